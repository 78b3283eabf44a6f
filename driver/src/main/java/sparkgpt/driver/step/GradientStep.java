// The work of one partition in one Spark job: forward (and backward) over its share of a global batch.
package sparkgpt.driver.step;

import java.io.Serializable;
import java.util.Iterator;
import java.util.List;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.function.Function2;
import sparkgpt.driver.config.TransferConfig;
import sparkgpt.driver.data.TokenWindows;
import sparkgpt.kernels.Parallel;
import sparkgpt.worker.Gpt;
import sparkgpt.worker.GptConfig;

/**
 * Which windows a partition reads (the batch contract; W windows in the split, B = batch_size,
 * P partitions, per = B / P, step s from 0):
 * <ul>
 *   <li>in order (shuffle=false, and always for eval): global batch b holds windows
 *       (b*B + i) mod W for i = 0..B-1, and partition p takes i in [p*per, (p+1)*per). Every
 *       partition reads from the whole split, so the windows do not depend on the cluster's shape.</li>
 *   <li>shuffled (shuffle=true): partition p owns windows [p*Wp, (p+1)*Wp), Wp = floor(W/P),
 *       and takes the next per windows of its own stream: epoch after epoch of a permutation
 *       keyed by (seed, epoch, p) ({@link sparkgpt.driver.data.Permutation}).</li>
 * </ul>
 * Either way a window is read from the shards when its micro-batch is filled ({@link TokenWindows}):
 * nothing the size of the corpus is held in memory.
 * The weights arrive by broadcast; nothing the size of the model is captured in this closure.
 */
public final class GradientStep implements Function2<Integer, Iterator<TokenWindows>, Iterator<GradientStep.Partial>> {

    /** The model's shape and the batch arithmetic, as plain values that travel with the task. */
    public record Plan(int nLayer, int nHead, int nEmbd, int blockSize, int vocabSize, int nPositions,
                       int microBatchSize, String device, int batchSize, int partitions, boolean shuffle,
                       long seed, int blockFloats, boolean bf16, boolean lend) implements Serializable {
        /** lend: the result may reference the model's own gradient buffer (see {@link GradientStep#call}). */
        public Plan(GptConfig c, int microBatchSize, String device, int batchSize, int partitions, boolean shuffle,
                    long seed, int blockFloats, boolean bf16, boolean lend) {
            this(c.nLayer(), c.nHead(), c.nEmbd(), c.blockSize(), c.vocabSize(), c.nPositions(), microBatchSize,
                    device, batchSize, partitions, shuffle, seed, blockFloats, bf16, lend);
        }

        /** fp32 gradients in blocks of transfer_block_mb's default, 64 MB. */
        public Plan(GptConfig c, int microBatchSize, String device, int batchSize, int partitions, boolean shuffle,
                    long seed) {
            this(c, microBatchSize, device, batchSize, partitions, shuffle, seed, TransferConfig.blockFloats(TransferConfig.DEFAULT_BLOCK_MB), false, false);
        }

        /** GptConfig is not Serializable: the plan carries its numbers and rebuilds it on the executor. */
        public GptConfig model() {
            return new GptConfig(nLayer, nHead, nEmbd, blockSize, vocabSize, nPositions);
        }

        public int perPartition() {
            return batchSize / partitions;
        }
    }

    /**
     * One partition's result: summed token losses, and the gradient of (sum of losses) / (B*T) in
     * blocks of plan.blockFloats (null in an eval). It never travels itself: the seqOp (tree) or the
     * per-block records (sliced) turn it into {@link GradientSum}s in the task.
     * A class, not a record: Kryo 4's unsafe field access cannot read record fields.
     */
    public static final class Partial implements Serializable {
        public final int partition;
        public final double lossSum;
        public final float[][] grads;
        /** Round the gradient to bfloat16 whenever it is serialized (grad_dtype = bf16). */
        public boolean bf16;
        /**
         * Instead of grads: the model's own gradient buffer, whose blocks of blockFloats are written straight
         * from it when the result is serialized (no copy); afterSerialized then gives the model back.
         */
        public transient float[] flat;
        public transient int blockFloats;
        public transient Runnable afterSerialized;
        /** computeMs covers forwardMs + backwardMs (each summed over micro-batches) and the setup around them. */
        public final long computeMs, fetchMs, forwardMs, backwardMs;
        /** The device the kernels really ran on (Backend.device()): the MFU's denominator follows it. */
        public String device;
        /** Of computeMs, the time spent reading the windows into the micro-batches. */
        public long dataNanos;
        /**
         * The cpu backend's threads' CPU time over their wall time in compute (NaN on a device, or where the JVM does
         * not measure thread CPU time): below 1 when other processes or threads took their cores, or when pool threads
         * sat idle (serial parts, uneven splits).
         */
        public double onCpu = Double.NaN;

        public Partial(int partition, double lossSum, float[][] grads, long computeMs, long fetchMs, long forwardMs,
                       long backwardMs) {
            this.partition = partition;
            this.lossSum = lossSum;
            this.grads = grads;
            this.computeMs = computeMs;
            this.fetchMs = fetchMs;
            this.forwardMs = forwardMs;
            this.backwardMs = backwardMs;
        }
    }

    private final WeightBlocks weights;
    private final Plan plan;
    private final long firstBatch;
    private final int batches;
    private final boolean backward;
    /** aggregation = stream: where the gradient's blocks go as the last backward finishes them (else null). */
    private final GradientStream.Channel stream;

    /** A training step s: one batch, forward and backward. */
    public static GradientStep train(WeightBlocks weights, Plan plan, long step) {
        return new GradientStep(weights, plan, step, 1, true, null);
    }

    /** An evaluation: batches 0..batches-1 of the split in order, forward only. */
    public static GradientStep eval(WeightBlocks weights, Plan plan, int batches) {
        return new GradientStep(weights, plan, 0, batches, false, null);
    }

    /** Whether this is a training step (forward and backward), not an eval. */
    boolean trains() {
        return backward;
    }

    /** This step with its gradient put into the executors' block managers through channel, not in the result. */
    GradientStep streamingTo(GradientStream.Channel channel) {
        return new GradientStep(weights, plan, firstBatch, batches, backward, channel);
    }

    private GradientStep(WeightBlocks weights, Plan plan, long firstBatch, int batches, boolean backward,
                         GradientStream.Channel stream) {
        this.weights = weights;
        this.plan = plan;
        this.firstBatch = firstBatch;
        this.batches = batches;
        this.backward = backward;
        this.stream = stream;
    }

    /** The model's gradient as blocks: one copy in all (the model's buffer is reused by the next task). */
    static float[][] blocks(float[] g, int blockFloats) {
        int n = WeightBlocks.count(g.length, blockFloats);
        float[][] out = new float[n][];
        for (int k = 0; k < n; k++) {
            int from = (int) WeightBlocks.offset(k, blockFloats);
            out[k] = java.util.Arrays.copyOfRange(g, from, from + WeightBlocks.length(k, g.length, blockFloats));
        }
        return out;
    }

    /**
     * Why the model is given back after serialization and not in a task completion listener: Spark
     * runs completion listeners inside Task.run, before the executor serializes the task's result
     * ({@code TransferTest.completionListenersRunBeforeTheResultIsSerialized}), so another task of the
     * same JVM could borrow the model and zero its gradient while the result is still being written.
     * GradientSum.Segment gives it back once it has written the gradient; a failed task, whose result
     * is never written, gives it back from its failure listener.
     */
    @Override
    public Iterator<Partial> call(Integer partition, Iterator<TokenWindows> windows) {
        TokenWindows source = windows.next();
        int p = partition, per = plan.perPartition(), m = plan.microBatchSize(), T = plan.model().blockSize();
        long W = source.windows;
        // local mode may submit a step's job while the driver is still writing its weights: the task waits here, before
        // it borrows a model (the previous step's is lent to the driver until that update is done)
        weights.awaitPublished();
        WorkerRuntime.Key key = new WorkerRuntime.Key(plan.model(), m, plan.device());
        Gpt model = WorkerRuntime.borrow(key);
        Runnable giveBack = WorkerRuntime.giveBackOnce(key, model);
        long t0 = System.nanoTime();
        boolean lent = false;
        WeightBlocks.Arrival arrival = null;
        GradientStream.Sender sender = null;
        try {
            if (backward) Straggler.delay();
            // the blocks arrive in the order the forward pass reads them: on the cpu backend the first micro-batch's
            // forward starts at once and waits per layer; a device gets them all first
            arrival = weights.fetchInto(model.parameters());
            if (!model.paramsOnHost()) {
                arrival.await(model.parameters().length);
                model.paramsChanged();
            }
            WeightBlocks.Arrival weightsIn = arrival;
            long t1 = System.nanoTime();
            boolean onCpuBackend = "cpu".equals(model.backendName()); // a device's threads wait on it by design
            long cpu1 = onCpuBackend ? Parallel.cpuNanos() : -1;
            model.zeroGrad();
            int[] inputs = new int[m * T], targets = new int[m * T];
            float dlossPerToken = 1f / ((float) plan.batchSize() * T);
            double lossSum = 0;
            long dataNanos = 0, forwardNanos = 0, backwardNanos = 0;
            int sequences = per * batches;
            TaskContext context = TaskContext.get();
            for (int q0 = 0; q0 < sequences; q0 += m) {
                // an attempt Spark killed (the slower copy of a speculated task, a cancelled job) stops here,
                // between micro-batches, instead of computing on into the next step or the executor's exit
                if (context != null) context.killTaskIfInterrupted();
                long d0 = System.nanoTime();
                for (int j = 0; j < m; j++) {
                    int q = q0 + j;
                    long window;
                    if (backward && plan.shuffle()) {
                        window = source.shuffled((firstBatch + q / per) * per + q % per, plan.seed(), p);
                    } else {
                        long b = firstBatch + q / per;
                        window = Math.floorMod(b * plan.batchSize() + (long) p * per + q % per, W) + source.firstWindow;
                    }
                    source.window(window, inputs, targets, j * T);
                }
                long f0 = System.nanoTime();
                dataNanos += f0 - d0;
                model.forward(inputs, targets, 0, weightsIn::await);
                float[] losses = model.losses();
                long f1 = System.nanoTime();
                for (int i = 0; i < m * T; i++) lossSum += losses[i];
                // stream: the last micro-batch's backward sends each block as soon as it is final. The sender drops this
                // executor's blocks of the step before, which the driver has summed by now: this task's forward has
                // read every weight block, and the driver puts them after that sum (with the job submitted a step
                // ahead, the task starts while the driver may still be fetching them)
                if (backward && stream != null && q0 + m >= sequences) {
                    sender = new GradientStream.Sender(stream, p, model.gradients());
                    model.backward(dlossPerToken, sender::finalFrom);
                } else if (backward) {
                    model.backward(dlossPerToken);
                }
                forwardNanos += f1 - f0;
                backwardNanos += System.nanoTime() - f1;
            }
            // under treeAggregate the result references the model's gradient buffer itself (no copy: GPT-2
            // 124M's is 498 MB), and the model is lent until Spark has serialized the result; else the
            // blocks are copies (sliced: each block is its own shuffle record)
            boolean lend = backward && plan.lend() && stream == null;
            float[][] grads = backward && !lend && stream == null ? blocks(model.gradients(), plan.blockFloats()) : null;
            long t2 = System.nanoTime();
            long cpu2 = cpu1 >= 0 ? Parallel.cpuNanos() : -1;
            if (sender != null) sender.finish(); // the puts still under way count as the gradient's transfer
            // the time the first forward waited for weights counts as fetching them, not as forward
            long waited = arrival.waitedNanos;
            Partial out = new Partial(p, lossSum, grads, (t2 - t1 - waited) / 1_000_000, (t1 - t0 + waited) / 1_000_000,
                    (forwardNanos - waited) / 1_000_000, backwardNanos / 1_000_000);
            out.bf16 = plan.bf16();
            out.device = model.device();
            out.dataNanos = dataNanos;
            if (cpu1 >= 0 && t2 - t1 - waited > 0) {
                // the first forward's waits for weight blocks are off the CPU by design: they count as fetching
                out.onCpu = (double) (cpu2 - cpu1) / ((double) (t2 - t1 - waited) * Parallel.threads());
            }
            if (lend) {
                out.flat = model.gradients();
                out.blockFloats = plan.blockFloats();
                out.afterSerialized = giveBack;
                if (context != null) { // a failed task has no result to wait for
                    context.addTaskFailureListener((org.apache.spark.util.TaskFailureListener) (ctx, error) -> giveBack.run());
                }
                lent = true;
            }
            return List.of(out).iterator();
        } finally {
            // a fetch still writing into the model's buffer (a failed or killed task) ends before the model goes back
            if (arrival != null) arrival.settle(model.parameters().length);
            if (sender != null) sender.settle(); // likewise a put still reading the gradient buffer
            if (!lent) giveBack.run();
        }
    }
}
