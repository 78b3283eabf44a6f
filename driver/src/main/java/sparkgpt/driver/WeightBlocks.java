// How the flat weight and gradient vectors are cut into blocks that travel separately: one Spark
// broadcast per weight block, one serialized array per gradient block, none over transfer_block_mb.
package sparkgpt.driver;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;

/**
 * A model of P floats travels as ceil(P / B) blocks of B floats (the last one ragged). Java arrays,
 * Kryo's 2 GB buffer and Spark's serialized-object limits all stop near 2^31 bytes, while GPT-2 XL's
 * weights are 6.2 GB of fp32: as blocks, no single object that crosses the wire is larger than B
 * floats, and the executor still copies them into its model's one flat parameter buffer.
 * <p>
 * This object is what a task's closure carries: the list of block broadcasts (a few bytes each).
 */
public final class WeightBlocks implements Serializable {
    /** Floats per block (the last block may be shorter). */
    public final int blockFloats;
    /** Floats in all. */
    public final int size;
    private final List<Broadcast<float[]>> blocks;

    private WeightBlocks(int blockFloats, int size, List<Broadcast<float[]>> blocks) {
        this.blockFloats = blockFloats;
        this.size = size;
        this.blocks = blocks;
    }

    /** transfer_block_mb's default: far below the 2 GB limits of Java arrays and Kryo buffers, large enough that per-block costs vanish. */
    public static final double DEFAULT_MB = 64;

    /** Floats per block for transfer_block_mb megabytes (MiB), at least one. */
    public static int blockFloats(double megabytes) {
        return (int) Math.max(1, Math.min(Integer.MAX_VALUE - 8, Math.floor(megabytes * (1 << 20) / 4)));
    }

    /** Blocks needed for size floats. */
    public static int count(long size, int blockFloats) {
        return (int) ((size + blockFloats - 1) / blockFloats);
    }

    /** First float of block k. */
    public static long offset(int k, int blockFloats) {
        return (long) k * blockFloats;
    }

    /** Floats in block k of a size-float vector. */
    public static int length(int k, long size, int blockFloats) {
        return (int) Math.min(blockFloats, size - offset(k, blockFloats));
    }

    /**
     * Broadcasts params block by block. A model that fits one block is broadcast as it is (no copy; in
     * local mode the broadcast value IS params, so params must not change until {@link #destroy}).
     */
    public static WeightBlocks broadcast(JavaSparkContext sc, float[] params, int blockFloats) {
        int n = count(params.length, blockFloats);
        List<Broadcast<float[]>> list = new ArrayList<>(n);
        if (n == 1) {
            list.add(sc.broadcast(params));
        } else {
            for (int k = 0; k < n; k++) {
                int from = (int) offset(k, blockFloats);
                list.add(sc.broadcast(Arrays.copyOfRange(params, from, from + length(k, params.length, blockFloats))));
            }
        }
        return new WeightBlocks(blockFloats, params.length, list);
    }

    public int blocks() {
        return blocks.size();
    }

    /** Fetches every block (on an executor) and copies it into the model's flat buffer. */
    public void copyInto(float[] into) {
        if (into.length != size) {
            throw new IllegalArgumentException("parameter vector has " + size + " floats, model expects " + into.length);
        }
        for (int k = 0; k < blocks.size(); k++) {
            float[] b = blocks.get(k).value();
            System.arraycopy(b, 0, into, (int) offset(k, blockFloats), b.length);
        }
    }

    /** Removes every block from the driver and the executors (after the job that read them). */
    public void destroy() {
        for (Broadcast<float[]> b : blocks) b.destroy();
    }
}
