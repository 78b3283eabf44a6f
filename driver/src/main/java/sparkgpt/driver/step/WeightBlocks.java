// How the flat weight and gradient vectors are cut into blocks that travel separately: one Spark
// broadcast per weight block (fp32, or bfloat16 bits with weight_dtype = bf16), one serialized array
// per gradient block, none over transfer_block_mb.
package sparkgpt.driver.step;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import sparkgpt.kernels.Parallel;

/**
 * A model of P floats travels as ceil(P / B) blocks of B floats (the last one ragged). Java arrays,
 * Kryo's 2 GB buffer and Spark's serialized-object limits all stop near 2^31 bytes, while GPT-2 XL's
 * weights are 6.2 GB of fp32: as blocks, no single object that crosses the wire is larger than B
 * floats, and the executor still copies them into its model's one flat parameter buffer.
 * <p>
 * This object is what a task's closure carries: the list of block broadcasts (a few bytes each); in local mode,
 * where the tasks run in the driver's JVM, only the key under which the driver's params are found.
 * <p>
 * With bf16 each block is broadcast as the bfloat16 bits of its weights (a short[], half the bytes),
 * rounded to nearest even on the driver, and the executor expands them into its fp32 flat buffer: the
 * driver keeps the fp32 master weights, as PyTorch FSDP's MixedPrecision(param_dtype=torch.bfloat16)
 * does with the parameters it gathers. Block boundaries do not change the bits (rounding is per value).
 */
public final class WeightBlocks implements Serializable {
    /** Floats per block (the last block may be shorter). */
    public final int blockFloats;
    /** Floats in all. */
    public final int size;
    private final List<Broadcast<?>> blocks;

    /** Local mode: the {@link InJvm} handle of the driver's params (the tasks run in this JVM); 0: broadcasts. */
    private final long inJvm;

    private WeightBlocks(int blockFloats, int size, List<Broadcast<?>> blocks, long inJvm) {
        this.blockFloats = blockFloats;
        this.size = size;
        this.blocks = blocks;
        this.inJvm = inJvm;
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
        return broadcast(sc, params, blockFloats, false);
    }

    /**
     * With bf16, broadcasts each block as its bfloat16 bits ({@link BFloat16#toBits}, on all the driver's
     * cores); params itself is not changed and may change once this returns.
     */
    public static WeightBlocks broadcast(JavaSparkContext sc, float[] params, int blockFloats, boolean bf16) {
        int n = count(params.length, blockFloats);
        List<Broadcast<?>> list = new ArrayList<>(n);
        if (sc.isLocal() && !bf16) {
            // local mode: the tasks run in this JVM and read params where they are; a broadcast would serialize
            // them into pieces every step for executors that do not exist (~1.5 ms/MB here)
            return new WeightBlocks(blockFloats, params.length, list, InJvm.put(params));
        }
        if (bf16) {
            for (int k = 0; k < n; k++) {
                int from = (int) offset(k, blockFloats), len = length(k, params.length, blockFloats);
                short[] bits = new short[len];
                Parallel.parallelFor(len, (lo, hi) -> BFloat16.toBits(params, from + lo, bits, lo, hi - lo));
                list.add(sc.broadcast(bits));
            }
        } else if (n == 1) {
            list.add(sc.broadcast(params));
        } else {
            for (int k = 0; k < n; k++) {
                int from = (int) offset(k, blockFloats);
                list.add(sc.broadcast(Arrays.copyOfRange(params, from, from + length(k, params.length, blockFloats))));
            }
        }
        return new WeightBlocks(blockFloats, params.length, list, 0);
    }

    /**
     * Local mode: weights that the driver has not written yet (the next step's, during this step's update). A
     * task over them waits in {@link #awaitPublished} until {@link #publish}; the driver's params must then not
     * change until {@link #destroy}.
     */
    public static WeightBlocks later(float[] params, int blockFloats) {
        return new WeightBlocks(blockFloats, params.length, List.of(), InJvm.put(new Later(params)));
    }

    /** The params a {@link #later} handle stands for are written: its tasks go on. */
    public void publish() {
        InJvm.get(inJvm, Later.class).settle(false);
    }

    /** The driver stopped before publishing: tasks waiting on a {@link #later} handle fail instead. */
    public void abandon() {
        InJvm.get(inJvm, Later.class).settle(true);
    }

    /** Params promised by the driver, and whether they came. */
    private static final class Later {
        final float[] params;
        final CountDownLatch settled = new CountDownLatch(1);
        volatile boolean abandoned;

        Later(float[] params) {
            this.params = params;
        }

        void settle(boolean abandon) {
            abandoned = abandon;
            settled.countDown();
        }
    }

    /**
     * In a task: returns once the weights can be read (at once unless they are a {@link #later} handle). A task
     * Spark kills while it waits stops; weights the driver abandoned fail the task.
     */
    public void awaitPublished() {
        if (inJvm == 0 || !(InJvm.get(inJvm, Object.class) instanceof Later later)) return;
        TaskContext context = TaskContext.get();
        try {
            while (!later.settled.await(10, TimeUnit.MILLISECONDS)) {
                if (context != null) context.killTaskIfInterrupted();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for the step's weights", e);
        }
        if (later.abandoned) throw new IllegalStateException("the driver stopped before this step's weights were written");
    }

    public int blocks() {
        return inJvm != 0 ? count(size, blockFloats) : blocks.size();
    }

    /** Fetches every block (on an executor) and copies it into the model's flat buffer (bf16: expanded to fp32). */
    public void copyInto(float[] into) {
        if (into.length != size) {
            throw new IllegalArgumentException("parameter vector has " + size + " floats, model expects " + into.length);
        }
        if (inJvm != 0) {
            Object params = InJvm.get(inJvm, Object.class);
            System.arraycopy(params instanceof Later later ? later.params : (float[]) params, 0, into, 0, size);
            return;
        }
        for (int k = 0; k < blocks.size(); k++) {
            int at = (int) offset(k, blockFloats);
            Object b = blocks.get(k).value();
            if (b instanceof short[] bits) {
                Parallel.parallelFor(bits.length, (lo, hi) -> BFloat16.toFloats(bits, lo, into, at + lo, hi - lo));
            } else {
                float[] f = (float[]) b;
                System.arraycopy(f, 0, into, at, f.length);
            }
        }
    }

    /** Removes every block from the driver and the executors (after the job that read them). */
    public void destroy() {
        if (inJvm != 0) InJvm.remove(inJvm);
        for (Broadcast<?> b : blocks) b.destroy();
    }

    /**
     * {@link #destroy()}, returning once the executors have dropped their copies: for the last broadcast before
     * the context stops, whose removal would otherwise still be in flight when Spark closes the connections
     * ("ERROR TransportResponseHandler: Still have 1 requests outstanding"). Spark's public blocking removal is
     * unpersist(true), from the executors; destroy() then drops the driver's copy (the executors have none left).
     */
    public void destroyAndWait() {
        if (inJvm != 0) InJvm.remove(inJvm);
        for (Broadcast<?> b : blocks) {
            b.unpersist(true);
            b.destroy();
        }
    }
}
