// A partition's windows as GradientStep reads them: the split's tokens at w*T (also across a shard boundary),
// each window once per shuffled epoch, and the same windows from a copy that travelled through Kryo.
package sparkgpt.driver.data;

import static org.junit.jupiter.api.Assertions.*;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.nio.file.Path;
import java.util.BitSet;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.spark.SparkConf;
import org.apache.spark.serializer.KryoSerializer;
import org.apache.spark.serializer.SerializerInstance;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import scala.reflect.ClassTag;
import sparkgpt.driver.config.UserError;
import sparkgpt.driver.train.SparkSetup;

class TokenWindowsTest {
    static final int T = 8;
    final Configuration conf = new Configuration();

    /** Shards of 37, 0 and 50 tokens (token i is i % 251): window 4, tokens [32, 41), spans all three. */
    TokenShards.Split split(Path dir) throws Exception {
        FileSystem fs = FileSystem.getLocal(conf);
        char[] t = new char[87];
        for (int i = 0; i < t.length; i++) t[i] = (char) (i % 251);
        String d = dir.toUri().toString();
        TokenShards.write(fs, new org.apache.hadoop.fs.Path(d, "train_000000.bin"), t, 0, 37);
        TokenShards.write(fs, new org.apache.hadoop.fs.Path(d, "train_000001.bin"), t, 37, 0);
        TokenShards.write(fs, new org.apache.hadoop.fs.Path(d, "train_000002.bin"), t, 37, 50);
        return TokenShards.split(conf, dir.toString(), "train");
    }

    byte[] confBytes() throws Exception {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (DataOutputStream out = new DataOutputStream(bytes)) {
            conf.write(out);
        }
        return bytes.toByteArray();
    }

    @Test
    void windowsAreTheSplitsTokensAcrossShards(@TempDir Path dir) throws Exception {
        TokenShards.Split split = split(dir);
        long W = (split.tokens() - 1) / T; // 10
        TokenWindows all = new TokenWindows(split, 0, W, T, 256, confBytes());
        int[] inputs = new int[2 * T], targets = new int[2 * T];
        for (long w = 0; w < W; w++) {
            all.window(w, inputs, targets, T); // at an offset, as the second sequence of a micro-batch
            for (int t = 0; t < T; t++) {
                assertEquals((w * T + t) % 251, inputs[T + t], "window " + w + " input " + t);
                assertEquals((w * T + t + 1) % 251, targets[T + t], "window " + w + " target " + t);
            }
        }
        TokenWindows second = new TokenWindows(split, 5, 5, T, 256, confBytes());
        assertThrows(IllegalStateException.class, () -> second.window(4, inputs, targets, 0));
        // a vocabulary the shards exceed: the message names the shard the window is read from
        TokenWindows small = new TokenWindows(split, 0, W, T, 40, confBytes());
        UserError e = assertThrows(UserError.class, () -> small.window(5, inputs, targets, 0));
        assertTrue(e.getMessage().endsWith("train_000002.bin holds token id 40, not below vocab_size 40"), e.getMessage());
    }

    @Test
    void eachShuffledEpochVisitsEveryWindowOnce(@TempDir Path dir) throws Exception {
        TokenShards.Split split = split(dir);
        TokenWindows part = new TokenWindows(split, 3, 7, T, 256, confBytes());
        String[] epochs = new String[3];
        for (int e = 0; e < 3; e++) {
            BitSet seen = new BitSet();
            StringBuilder order = new StringBuilder();
            for (long k = 7L * e; k < 7L * (e + 1); k++) {
                long w = part.shuffled(k, 1337, 1);
                assertTrue(w >= 3 && w < 10, "window " + w);
                assertFalse(seen.get((int) w), "window " + w + " twice in epoch " + e);
                seen.set((int) w);
                order.append(w).append(' ');
            }
            epochs[e] = order.toString();
        }
        assertFalse(epochs[0].equals(epochs[1]) && epochs[1].equals(epochs[2]), "every epoch in one order: " + epochs[0]);
        // the order is a function of (seed, k, partition) alone: another instance gives it, another seed another
        TokenWindows again = new TokenWindows(split, 3, 7, T, 256, confBytes());
        for (long k = 0; k < 21; k++) assertEquals(part.shuffled(k, 1337, 1), again.shuffled(k, 1337, 1));
        boolean differs = false;
        for (long k = 0; k < 7; k++) differs |= part.shuffled(k, 1337, 1) != part.shuffled(k, 1338, 1);
        assertTrue(differs, "another seed, another order");
    }

    @Test
    void aCopyThroughKryoReadsTheSameWindows(@TempDir Path dir) throws Exception {
        // a cached partition that another executor fetches (a speculative copy) travels through the run's Kryo
        SerializerInstance kryo = new KryoSerializer(new SparkConf()
                .set("spark.kryo.registrationRequired", "true").set("spark.kryo.unsafe", "true")
                .registerKryoClasses(SparkSetup.KRYO_CLASSES)).newInstance();
        TokenShards.Split split = split(dir);
        TokenWindows original = new TokenWindows(split, 2, 8, T, 256, confBytes());
        int[] a = new int[T], b = new int[T], at = new int[T], bt = new int[T];
        original.window(4, a, at, 0); // its streams are open: they stay behind
        ClassTag<TokenWindows> tag = ClassTag.apply(TokenWindows.class);
        TokenWindows copy = kryo.deserialize(kryo.serialize(original, tag), tag);
        assertEquals(2, copy.firstWindow);
        assertEquals(8, copy.windows);
        for (long w = 2; w < 10; w++) {
            original.window(w, a, at, 0);
            copy.window(w, b, bt, 0);
            assertArrayEquals(a, b, "window " + w);
            assertArrayEquals(at, bt, "window " + w);
            assertEquals(original.shuffled(w, 7, 0), copy.shuffled(w, 7, 0));
        }
    }
}
