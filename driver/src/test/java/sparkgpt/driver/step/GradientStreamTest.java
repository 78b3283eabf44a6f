// aggregation = stream's two ends in one JVM (local mode's block manager stands in for an executor's): blocks
// put as the backward pass finishes them are summed per block with GradientSum's bits, a block that never
// arrives after the job fails the gather with its name, and a step's blocks are dropped afterwards. A block
// fetched from the block manager that holds it lands in floats with the same bits (local mode's block manager
// serves its own fetch over the network); one the holder lacks, or of the wrong size, fails with its name.
// Weights the driver serves before its update has written them: a task's fetch waits for each block until it is
// put, and fails (does not hang) when the driver abandons them or the task ends.
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
        ChunkedByteBuffer bytes = GradientStream.bytes(src, 0, n);
        assertTrue(bytes.chunks()[0].isDirect());
        bm.putBytes(id, bytes, StorageLevel.MEMORY_AND_DISK_SER(), true, scala.reflect.ClassTag$.MODULE$.apply(byte[].class));
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
    void aRemovedBlocksBufferCarriesTheNextPutOfItsSize() {
        int n = 12_345;
        BlockManager bm = SparkEnv.get().blockManager();
        BlockId first = new BroadcastBlockId(GradientStream.nextId(), "pooled_0");
        ChunkedByteBuffer bytes = GradientStream.bytes(random(n, 1), 0, n);
        ByteBuffer buffer = bytes.chunks()[0];
        bm.putBytes(first, bytes, StorageLevel.MEMORY_AND_DISK_SER(), true, scala.reflect.ClassTag$.MODULE$.apply(byte[].class));
        ChunkedByteBuffer meanwhile = GradientStream.bytes(random(n, 2), 0, n);
        assertNotSame(buffer, meanwhile.chunks()[0], "a buffer still in a block is not handed out");
        bm.removeBlock(first, true);
        float[] next = random(n, 3);
        ChunkedByteBuffer reused = GradientStream.bytes(next, 0, n);
        assertSame(buffer, reused.chunks()[0], "the removed block's buffer");
        float[] back = new float[n];
        reused.chunks()[0].duplicate().order(java.nio.ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(back);
        assertArrayEquals(next, back);
        assertNotSame(buffer, GradientStream.bytes(next, 0, n).chunks()[0], "taken once");
    }

    @Test
    void aBlockTheHolderDoesNotHaveFailsWithItsName() {
        BlockId id = new BroadcastBlockId(GradientStream.nextId(), "blockfetch_missing");
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> GradientStream.fetchFloats(
                SparkEnv.get().blockManager().blockManagerId(), id, new float[4], 0, 4, "weight block 3"));
        assertTrue(e.getMessage().startsWith("fetching weight block 3 (" + id + ") from "), e.getMessage());
    }

    @Test
    void floatsCutBetweenTheSocketsReadsArePutTogether() {
        int n = 1_000;
        float[] src = random(n, 9);
        ByteBuffer all = ByteBuffer.allocateDirect(4 * n).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        all.asFloatBuffer().put(src);
        int[] cuts = {0, 3, 8, 9, 10, 11, 401, 1_998, 2_000, 4 * n}; // parts of 3, 5, 1, 1, 1, 390, ... bytes, one empty
        ByteBuffer[] parts = new ByteBuffer[cuts.length - 1];
        for (int i = 0; i + 1 < cuts.length; i++) parts[i] = all.duplicate().position(cuts[i]).limit(cuts[i + 1]).slice();
        float[] into = new float[n + 2];
        GradientStream.floatsFrom(parts, into, 1, n, "test block");
        for (int i = 0; i < n; i++) assertEquals(Float.floatToRawIntBits(src[i]), Float.floatToRawIntBits(into[1 + i]), "float " + i);
        assertEquals(0f, into[0]);
        assertEquals(0f, into[n + 1]);

        ByteBuffer[] short1 = {all.duplicate().limit(4 * n - 2).slice()};
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> GradientStream.floatsFrom(short1, new float[n], 0, n, "partition 0's gradient block 1"));
        assertEquals("partition 0's gradient block 1 ended after " + (4 * n - 2) + " of " + 4 * n + " bytes", e.getMessage());
    }

    @Test
    void theGathersArraysAreReusedUpToTheirBound() {
        float[] a = GradientStream.FloatPool.take(777);
        GradientStream.FloatPool.giveBack(a);
        assertSame(a, GradientStream.FloatPool.take(777), "given back, taken again");
        int big = (int) (GradientStream.FloatPool.MAX_BYTES / 4) + 1;
        float[] tooBig = new float[big];
        GradientStream.FloatPool.giveBack(tooBig);
        assertNotSame(tooBig, GradientStream.FloatPool.take(big), "over the bound: not kept");
    }

    @Test
    void aBlockOfTheWrongSizeFailsWithBothSizes() {
        NioManagedBuffer data = new NioManagedBuffer(GradientStream.bytes(new float[10], 0, 10).chunks()[0]);
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> GradientStream.floatsFrom(data, new float[12], 0, 12, "partition 1's gradient block 2"));
        assertEquals("partition 1's gradient block 2 has 40 bytes, expected 48", e.getMessage());
    }

    @Test
    void aFetchOfServedWeightsWaitsForEachBlockUntilItIsWritten() throws Exception {
        int size = 9_000;
        float[] params = random(size, 11);
        WeightBlocks weights = WeightBlocks.served(sc, size, 4_000, new long[] {3_000});
        try {
            float[] into = new float[size];
            WeightBlocks.Arrival arrival = weights.fetchInto(into);
            Thread.sleep(300);
            assertEquals(0, arrival.arrived(), "nothing is put yet");
            weights.written(params, 2_999); // block 0 is [0, 3000): not final yet
            Thread.sleep(300);
            assertEquals(0, arrival.arrived(), "a block goes out only once the update has written all of it");
            weights.written(params, 6_500); // blocks [0, 3000) and [3000, 7000) are... only the first is final
            arrival.await(3_000);
            Thread.sleep(300);
            assertEquals(3_000, arrival.arrived(), "the second block [3000, 7000) is not final at 6500");
            weights.written(params, size);
            arrival.await(size);
            for (int i = 0; i < size; i++) {
                assertEquals(Float.floatToRawIntBits(params[i]), Float.floatToRawIntBits(into[i]), "float " + i);
            }
            arrival.settle(size);
        } finally {
            weights.destroy();
        }
    }

    @Test
    void aFetchOfServedWeightsEndsWhenTheDriverAbandonsThemOrTheTaskEnds() throws Exception {
        int size = 5_000;
        float[] params = random(size, 12);
        WeightBlocks abandoned = WeightBlocks.served(sc, size, 2_000, new long[0]);
        WeightBlocks.Arrival waiting = abandoned.fetchInto(new float[size]);
        abandoned.written(params, 2_000);
        waiting.await(2_000);
        abandoned.abandon();
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> waiting.await(size));
        assertTrue(e.getMessage().contains("the driver stopped before this step's weights were written"), e.getMessage());
        abandoned.destroy();

        WeightBlocks never = WeightBlocks.served(sc, size, 2_000, new long[0]);
        try {
            WeightBlocks.Arrival ended = never.fetchInto(new float[size]);
            long t0 = System.nanoTime();
            ended.settle(size); // the task ends (killed, failed) while its fetch waits for block 0
            assertTrue(System.nanoTime() - t0 < 5_000_000_000L, "settle returned once the fetch stopped waiting");
            assertEquals(0, ended.arrived());
        } finally {
            never.destroy();
        }
    }
}
