// aggregation = stream's two ends in one JVM (local mode's block manager stands in for an executor's): blocks
// put as the backward pass finishes them are summed per block with GradientSum's bits, a block that never
// arrives after the job fails the gather with its name, and a step's blocks are dropped afterwards. A block
// fetched from the block manager that holds it lands in floats with the same bits (local mode's block manager
// serves its own fetch over the network); one the holder lacks, or of the wrong size, fails with its name.
package sparkgpt.driver.step;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.ByteBuffer;
import java.util.Map;
import java.util.Random;
import org.apache.spark.SparkEnv;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.network.buffer.NioManagedBuffer;
import org.apache.spark.storage.BlockId;
import org.apache.spark.storage.BlockManager;
import org.apache.spark.storage.BroadcastBlockId;
import org.apache.spark.storage.StorageLevel;
import org.apache.spark.util.io.ChunkedByteBuffer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import sparkgpt.driver.train.SparkSetup;

class GradientStreamTest {
    static JavaSparkContext sc;

    @BeforeAll
    static void start() {
        sc = SparkSetup.context("local[2]", "GradientStreamTest", Map.of());
    }

    @AfterAll
    static void stop() {
        sc.close();
    }

    static float[] random(int n, long seed) {
        Random r = new Random(seed);
        float[] g = new float[n];
        for (int i = 0; i < n; i++) g[i] = (float) r.nextGaussian() * (1 + i % 7);
        return g;
    }

    @Test
    void blocksPutAsTheyAreFinalAreSummedWithTheTreesBits() throws Exception {
        int size = 10_000, partitions = 3;
        long[] starts = WeightBlocks.starts(size, 1_500, 2_000, 7_000, 9_990); // ragged blocks, one of 10 floats
        GradientStream.Channel channel = GradientStream.open(starts);
        float[] into = new float[size];
        GradientStream.Gather gather = GradientStream.gather(sc.sc(), channel, partitions, into);
        float[][] g = new float[partitions][];
        for (int p = 0; p < partitions; p++) g[p] = random(size, p);
        try {
            // partition 2 first, its blocks from the top down as a backward pass finishes them; then 0 and 1 whole
            GradientStream.Sender last = new GradientStream.Sender(channel, 2, g[2]);
            last.finalFrom(9_990);
            last.finalFrom(7_000);
            Thread.sleep(50);
            last.finish();
            for (int p = 0; p < 2; p++) new GradientStream.Sender(channel, p, g[p]).finish();
            gather.jobDone();
            assertSame(into, gather.await());
        } finally {
            gather.close();
        }
        // GradientSum's rule over 3 partitions: (g0 + g1) + g2, element by element
        for (int i = 0; i < size; i++) assertEquals((g[0][i] + g[1][i]) + g[2][i], into[i], "float " + i);
        BroadcastBlockId anyBlock = (BroadcastBlockId) channel.block(0, 0);
        for (int t = 0; t < 100 && SparkEnv.get().blockManager().master().contains(anyBlock); t++) Thread.sleep(50);
        assertFalse(SparkEnv.get().blockManager().master().contains(anyBlock), "the step's blocks are removed");
    }

    @Test
    void aBlockMissingAfterTheJobFailsTheGatherByName() throws Exception {
        GradientStream.Channel channel = GradientStream.open(WeightBlocks.starts(100, 40));
        GradientStream.Gather gather = GradientStream.gather(sc.sc(), channel, 2, new float[100]);
        try {
            new GradientStream.Sender(channel, 0, random(100, 0)).finish(); // partition 1 never puts its blocks
            gather.jobDone();
            GradientStream.BlockLost lost = assertThrows(GradientStream.BlockLost.class, gather::await);
            assertTrue(lost.getMessage().startsWith(channel.block(1, 2) + " (partition 1's gradient block 2) was not"
                    + " found on any executor after its task ended"), lost.getMessage());
        } finally {
            gather.close();
        }
    }

    @Test
    void aFetchedBlockLandsAtItsOffsetWithTheSameBits() throws Exception {
        int n = 40_003; // two whole 64 KiB reads and a ragged one
        float[] src = random(n, 7);
        src[5] = Float.NaN;
        src[6] = -0.0f;
        src[7] = Float.MIN_VALUE;
        BlockManager bm = SparkEnv.get().blockManager();
        BlockId id = new BroadcastBlockId(GradientStream.nextId(), "blockfetch_0");
        ByteBuffer bytes = GradientStream.bytes(src, 0, n);
        assertTrue(bytes.isDirect());
        bm.putBytes(id, new ChunkedByteBuffer(bytes), StorageLevel.MEMORY_AND_DISK_SER(), true,
                scala.reflect.ClassTag$.MODULE$.apply(byte[].class));
        try {
            float[] into = new float[n + 10];
            into[4] = 42f;
            into[n + 5] = 43f;
            GradientStream.fetchFloats(bm.blockManagerId(), id, into, 5, n, "test block");
            for (int i = 0; i < n; i++) {
                assertEquals(Float.floatToRawIntBits(src[i]), Float.floatToRawIntBits(into[5 + i]), "float " + i);
            }
            assertEquals(42f, into[4]);
            assertEquals(43f, into[n + 5]);
        } finally {
            bm.removeBlock(id, true);
        }
    }

    @Test
    void aBlockTheHolderDoesNotHaveFailsWithItsName() {
        BlockId id = new BroadcastBlockId(GradientStream.nextId(), "blockfetch_missing");
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> GradientStream.fetchFloats(
                SparkEnv.get().blockManager().blockManagerId(), id, new float[4], 0, 4, "weight block 3"));
        assertTrue(e.getMessage().startsWith("fetching weight block 3 (" + id + ") from "), e.getMessage());
    }

    @Test
    void aBlockOfTheWrongSizeFailsWithBothSizes() {
        NioManagedBuffer data = new NioManagedBuffer(GradientStream.bytes(new float[10], 0, 10));
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> GradientStream.floatsFrom(data, new float[12], 0, 12, "partition 1's gradient block 2"));
        assertEquals("partition 1's gradient block 2 has 40 bytes, expected 48", e.getMessage());
    }
}
