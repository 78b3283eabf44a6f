// llm.c shard format: round trip, and files that are not shards fail with their name in the message.
package sparkgpt.driver.data;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import sparkgpt.driver.config.UserError;

class TokenShardsTest {
    final Configuration conf = new Configuration();

    @Test
    void roundTripAcrossShards(@TempDir Path dir) throws Exception {
        FileSystem fs = FileSystem.getLocal(conf);
        char[] a = {1, 2, 3, 65535}, b = {7, 8};
        TokenShards.write(fs, new org.apache.hadoop.fs.Path(dir.toUri() + "/train_000000.bin"), a, 0, a.length);
        TokenShards.write(fs, new org.apache.hadoop.fs.Path(dir.toUri() + "/train_000001.bin"), b, 0, b.length);
        byte[] raw = Files.readAllBytes(dir.resolve("train_000000.bin"));
        ByteBuffer h = ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(20240520, h.getInt(0));
        assertEquals(1, h.getInt(4));
        assertEquals(4, h.getInt(8));
        assertEquals(1024 + 8, raw.length);
        TokenShards.Split split = TokenShards.split(conf, dir.toString(), "train");
        assertEquals(6, split.tokens());
        assertArrayEquals(new char[] {3, 65535, 7}, TokenShards.read(conf, split, 2, 3, 65536));
        UserError e = assertThrows(UserError.class, () -> TokenShards.read(conf, split, 0, 6, 50257));
        assertTrue(e.getMessage().contains("train_000000.bin holds token id 65535, not below vocab_size 50257"), e.getMessage());
    }

    @Test
    void wrongMagicNamesTheFile(@TempDir Path dir) throws Exception {
        ByteBuffer h = ByteBuffer.allocate(1024 + 4).order(ByteOrder.LITTLE_ENDIAN);
        h.putInt(20240501).putInt(1).putInt(2);
        Files.write(dir.resolve("val_000000.bin"), h.array());
        UserError e = assertThrows(UserError.class, () -> TokenShards.split(conf, dir.toString(), "val"));
        assertTrue(e.getMessage().contains("val_000000.bin has magic 20240501, expected 20240520"), e.getMessage());
    }

    @Test
    void truncatedFileNamesTheFile(@TempDir Path dir) throws Exception {
        ByteBuffer h = ByteBuffer.allocate(1024 + 6).order(ByteOrder.LITTLE_ENDIAN);
        h.putInt(20240520).putInt(1).putInt(5); // says 5 tokens, holds 3
        Files.write(dir.resolve("train_000000.bin"), h.array());
        UserError e = assertThrows(UserError.class, () -> TokenShards.split(conf, dir.toString(), "train"));
        assertTrue(e.getMessage().contains("train_000000.bin is 1030 bytes but its header says 5 tokens"), e.getMessage());
        Files.write(dir.resolve("train_000000.bin"), Arrays.copyOf(h.array(), 100));
        e = assertThrows(UserError.class, () -> TokenShards.split(conf, dir.toString(), "train"));
        assertTrue(e.getMessage().contains("train_000000.bin is truncated: 100 bytes"), e.getMessage());
    }
}
