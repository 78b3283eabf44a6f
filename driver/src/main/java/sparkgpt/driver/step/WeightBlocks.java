// How the flat weight and gradient vectors are cut into blocks that travel separately: one Spark
// broadcast per weight block (fp32, or bfloat16 bits with weight_dtype = bf16), one serialized array
// per gradient block, none over transfer_block_mb.
package sparkgpt.driver.step;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.WeakHashMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.BooleanSupplier;
import org.apache.spark.SparkEnv;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.rpc.RpcCallContext;
import org.apache.spark.rpc.RpcEndpointRef;
import org.apache.spark.rpc.RpcEnv;
import org.apache.spark.rpc.RpcTimeout;
import org.apache.spark.rpc.RpcTimeoutException;
import org.apache.spark.rpc.ThreadSafeRpcEndpoint;
import org.apache.spark.storage.BlockId;
import org.apache.spark.storage.BlockManager;
import org.apache.spark.storage.BlockManagerId;
import org.apache.spark.storage.BroadcastBlockId;
import org.apache.spark.storage.StorageLevel;
import org.apache.spark.util.RpcUtils;
import scala.Function1;
import scala.PartialFunction;
import scala.jdk.javaapi.FutureConverters;
import scala.runtime.AbstractPartialFunction;
import scala.runtime.BoxedUnit;
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
    /** Floats in all. */
    public final int size;
    private final List<Broadcast<?>> blocks;
    /** Where each block starts in the flat vector, and (last) the end: blocks() + 1 entries. */
    private final long[] starts;

    /** Local mode: the {@link InJvm} handle of the driver's params (the tasks run in this JVM); 0: broadcasts. */
    private final long inJvm;

    /** Served from the driver's block manager ({@link #served}): the step's id there; 0: broadcasts or in the JVM. */
    private final long served;
    /** Served: the driver's block manager, which the executors fetch the blocks from. */
    private final BlockManagerId driver;
    /** Served, on the driver: blocks [0, put) are in its block manager. */
    private transient int put;
    /** Served, in a task: blocks [0, known) are known to be put (no need to ask). */
    private transient int known;

    private WeightBlocks(int size, List<Broadcast<?>> blocks, long[] starts, long inJvm) {
        this(size, blocks, starts, inJvm, 0, null);
    }

    private WeightBlocks(int size, List<Broadcast<?>> blocks, long[] starts, long inJvm, long served, BlockManagerId driver) {
        this.size = size;
        this.blocks = blocks;
        this.starts = starts;
        this.inJvm = inJvm;
        this.served = served;
        this.driver = driver;
    }

    /** How many blocks {@link #broadcast} cuts size floats into, at cuts and every blockFloats between. */
    public static int blocksOf(long size, int blockFloats, long... cuts) {
        return starts(size, blockFloats, cuts).length - 1;
    }

    /** Block starts for size floats: cut at every one of cuts (ascending, inside (0, size)) and every blockFloats between. */
    public static long[] starts(long size, int blockFloats, long... cuts) {
        List<Long> out = new ArrayList<>();
        long from = 0;
        for (int c = 0; c <= cuts.length; c++) {
            long to = c < cuts.length ? cuts[c] : size;
            for (long at = from; at < to; at += blockFloats) out.add(at);
            from = Math.max(from, to);
        }
        out.add(size);
        return out.stream().mapToLong(Long::longValue).toArray();
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
        return broadcast(sc, params, blockFloats, bf16, new long[0]);
    }

    /**
     * Also cut at cuts (ascending offsets): a training step cuts where each layer's weights start, in the order
     * the forward pass reads them, so an executor computes layer l while later layers still arrive
     * ({@link #fetchInto}).
     */
    public static WeightBlocks broadcast(JavaSparkContext sc, float[] params, int blockFloats, boolean bf16, long[] cuts) {
        long[] starts = starts(params.length, blockFloats, cuts);
        int n = starts.length - 1;
        List<Broadcast<?>> list = new ArrayList<>(n);
        if (sc.isLocal() && !bf16) {
            // local mode: the tasks run in this JVM and read params where they are; a broadcast would serialize
            // them into pieces every step for executors that do not exist (~1.5 ms/MB here)
            return new WeightBlocks(params.length, list, starts, InJvm.put(params));
        }
        for (int k = 0; k < n; k++) {
            int from = (int) starts[k], len = (int) (starts[k + 1] - starts[k]);
            if (bf16) {
                short[] bits = new short[len];
                Parallel.parallelFor(len, (lo, hi) -> BFloat16.toBits(params, from + lo, bits, lo, hi - lo));
                list.add(sc.broadcast(bits));
            } else {
                list.add(sc.broadcast(n == 1 ? params : Arrays.copyOfRange(params, from, from + len)));
            }
        }
        return new WeightBlocks(params.length, list, starts, 0);
    }

    /**
     * A training step's fp32 weights for a few executors in JVMs of their own (aggregation = stream): each block's
     * little-endian bytes are put once into the driver's block manager, and every executor fetches them from there
     * straight into its model's buffer. A TorrentBroadcast would serialize the block, cut it into 4 MB pieces that
     * each take a location lookup, a fetch, a local store and a report to the driver, and deserialize it into an
     * array of its own; that spreads the upload over the executors, which pays with many of them, not with up
     * to 6. The blocks share {@link GradientStream}'s id space ({@code broadcast_<id>_weights_<k>}).
     */
    public static WeightBlocks served(JavaSparkContext sc, float[] params, int blockFloats, long[] cuts) {
        WeightBlocks w = served(sc, params.length, blockFloats, cuts);
        w.written(params, params.length);
        return w;
    }

    /**
     * {@link #served} weights of which nothing is put yet: {@link #written} puts each block once the update has
     * finished it. A task may start before that (its job is submitted a step ahead, NextStep): its fetch of a block
     * not yet put asks the driver ({@link Served}) and goes on when the block is there, so that executors compute
     * the first layers while the driver still updates the last.
     */
    public static WeightBlocks served(JavaSparkContext sc, int size, int blockFloats, long[] cuts) {
        long id = GradientStream.nextId();
        SparkEnv env = SparkEnv.get();
        Served.on(env).open(id);
        return new WeightBlocks(size, List.of(), starts(size, blockFloats, cuts), 0, id, env.blockManager().blockManagerId());
    }

    /**
     * params are final in [0, upTo): the served blocks inside it are put (each once, in order), and the tasks
     * waiting for them go on. Weights of other kinds are complete from the start (a {@link #later} handle is
     * published by {@link #publish}).
     */
    public void written(float[] params, long upTo) {
        if (served == 0) return;
        int k = put;
        BlockManager bm = SparkEnv.get().blockManager();
        for (; k + 1 < starts.length && starts[k + 1] <= upTo; k++) {
            int from = (int) starts[k], len = (int) (starts[k + 1] - from);
            bm.putBytes(servedBlock(served, k), GradientStream.bytes(params, from, len),
                    StorageLevel.MEMORY_AND_DISK_SER(), true,
                    scala.reflect.ClassTag$.MODULE$.apply(byte[].class));
        }
        if (k > put) {
            put = k;
            Served.on(SparkEnv.get()).put(served, k);
        }
    }

    /** Whether {@link #written} has put a served block (other weights: false, they go out whole). */
    public boolean firstOut() {
        return put > 0;
    }

    private static BlockId servedBlock(long id, int k) {
        return new BroadcastBlockId(id, "weights_" + k);
    }

    /**
     * Local mode: weights that the driver has not written yet (the next step's, during this step's update). A
     * task over them waits in {@link #awaitPublished} until {@link #publish}; the driver's params must then not
     * change until {@link #destroy}.
     */
    public static WeightBlocks later(float[] params, int blockFloats) {
        return new WeightBlocks(params.length, List.of(), starts(params.length, blockFloats),
                InJvm.put(new Later(params, new Arrival(0))));
    }

    /** The params a {@link #later} handle stands for are written: its tasks go on (other weights: nothing to do). */
    public void publish() {
        if (inJvm != 0 && InJvm.get(inJvm, Object.class) instanceof Later later) later.arrival.arrived(size);
    }

    /** The driver stopped before publishing: tasks waiting on a {@link #later} handle or a served block fail instead. */
    public void abandon() {
        String why = "the driver stopped before this step's weights were written";
        if (served != 0) Served.on(SparkEnv.get()).close(served, why);
        else InJvm.get(inJvm, Later.class).arrival.failed(new IllegalStateException(why));
    }

    /** Params promised by the driver: all of them arrive at once when they are written. */
    private record Later(float[] params, Arrival arrival) {}

    /**
     * In a task: returns once the weights can be read (at once unless they are a {@link #later} handle). A task
     * Spark kills while it waits stops; weights the driver abandoned fail the task.
     */
    public void awaitPublished() {
        if (inJvm != 0 && InJvm.get(inJvm, Object.class) instanceof Later later) later.arrival.await(size);
    }

    public int blocks() {
        return starts.length - 1;
    }

    /**
     * Fetches every block (on an executor) and copies it into the model's flat buffer (bf16: expanded to fp32); a task
     * killed while it waits for a served block stops.
     */
    public void copyInto(float[] into) {
        TaskContext context = TaskContext.get();
        copyInto(into, () -> context != null && context.isInterrupted());
    }

    private void copyInto(float[] into, BooleanSupplier stopped) {
        if (into.length != size) {
            throw new IllegalArgumentException("parameter vector has " + size + " floats, model expects " + into.length);
        }
        if (inJvm != 0) {
            Object params = InJvm.get(inJvm, Object.class);
            System.arraycopy(params instanceof Later later ? later.params : (float[]) params, 0, into, 0, size);
            return;
        }
        for (int k = 0; k < blocks(); k++) copyBlock(k, into, stopped);
    }

    private void copyBlock(int k, float[] into, BooleanSupplier stopped) {
        int at = (int) starts[k];
        if (served != 0) {
            try {
                if (k >= known) known = Served.await(served, k, stopped);
                GradientStream.fetchFloats(driver, servedBlock(served, k), into, at, (int) (starts[k + 1] - at), "weight block " + k);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while fetching weight block " + k, e);
            }
            return;
        }
        Object b = blocks.get(k).value();
        if (b instanceof short[] bits) {
            Parallel.parallelFor(bits.length, (lo, hi) -> BFloat16.toFloats(bits, lo, into, at + lo, hi - lo));
        } else {
            float[] f = (float[]) b;
            System.arraycopy(f, 0, into, at, f.length);
        }
    }

    /**
     * On an executor: fetches the blocks in order on a thread of their own, copying each into into, and returns at
     * once; {@link Arrival#await} waits until a prefix of into is there. In this JVM's local mode, a plain copy.
     */
    public Arrival fetchInto(float[] into) {
        if (inJvm != 0 || blocks() == 1) {
            copyInto(into);
            return new Arrival(size);
        }
        if (into.length != size) { // checked before the fetch starts, as copyInto checks it
            throw new IllegalArgumentException("parameter vector has " + size + " floats, model expects " + into.length);
        }
        Arrival arrival = new Arrival(0);
        FETCH.execute(() -> {
            try {
                for (int k = 0; k < blocks(); k++) {
                    copyBlock(k, into, () -> arrival.stopping);
                    arrival.arrived(starts[k + 1]);
                }
            } catch (Throwable t) {
                arrival.failed(t);
            }
        });
        return arrival;
    }

    /** The threads that fetch weight blocks beside the tasks computing on them (one per task fetching). */
    private static final ExecutorService FETCH = Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "sparkgpt-weights");
        t.setDaemon(true);
        return t;
    });

    /** How much of a parameter vector has arrived: floats [0, arrived) are in place. */
    public static final class Arrival {
        private long arrived;
        private Throwable failure;
        /** Time the task spent in {@link #await} (the fetch it did not hide behind compute). */
        public long waitedNanos;
        /** The task is ending: a fetch still waiting for a served block stops. */
        private volatile boolean stopping;

        Arrival(long arrived) {
            this.arrived = arrived;
        }

        /** Floats [0, arrived()) are in place. */
        synchronized long arrived() {
            return arrived;
        }

        synchronized void arrived(long floats) {
            arrived = floats;
            notifyAll();
        }

        synchronized void failed(Throwable t) {
            failure = t;
            notifyAll();
        }

        /**
         * Waits until the fetch has ended, fetched or failed (before the buffer it writes may be reused); one still
         * waiting for a served block stops waiting.
         */
        public synchronized void settle(long size) {
            stopping = true;
            waitFor(size, false);
        }

        /** Waits until floats [0, floats) are in place; a failed fetch is thrown here, and a killed task stops. */
        public synchronized void await(long floats) {
            if (arrived >= floats) return;
            long w0 = System.nanoTime();
            try {
                waitFor(floats, true);
            } finally {
                waitedNanos += System.nanoTime() - w0;
            }
            if (arrived < floats) {
                if (failure instanceof RuntimeException r) throw r;
                if (failure instanceof Error e) throw e;
                throw new IllegalStateException("fetching the weights failed: " + failure, failure);
            }
        }

        /** Until floats have arrived or the fetch failed; a task that polls for its kill (killable) stops when killed. */
        private void waitFor(long floats, boolean killable) {
            TaskContext context = killable ? TaskContext.get() : null;
            while (arrived < floats && failure == null) {
                try {
                    wait(10);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    if (!killable) return;
                    throw new IllegalStateException("interrupted while the weights arrive", e);
                }
                if (context != null) context.killTaskIfInterrupted();
            }
        }
    }

    /** Removes every block from the driver and the executors (after the job that read them). */
    public void destroy() {
        if (inJvm != 0) InJvm.remove(inJvm);
        if (served != 0) removeServed();
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
        if (served != 0) removeServed();
        for (Broadcast<?> b : blocks) {
            b.unpersist(true);
            b.destroy();
        }
    }

    /**
     * Served blocks live only in the driver's block manager (the executors read them into their models): removed there
     * at once, their buffers go back to the pool for the next step's blocks. A task still asking for one is told.
     */
    private void removeServed() {
        SparkEnv env = SparkEnv.get();
        Served.on(env).close(served, "weights " + served + " were removed: their step is over");
        env.blockManager().removeBroadcast(served, true);
    }

    /**
     * Which served blocks the driver has put, for tasks that start before their step's update ends: a task's fetch of
     * a block it does not know to be put asks this endpoint on the driver, which answers once the block is put, with
     * the count put so far (the fetch asks again only past that count). Weights removed or abandoned answer with a
     * failure, so a waiting fetch always ends. Spark's own endpoints work the same way (the block manager master's).
     */
    static final class Served implements ThreadSafeRpcEndpoint {
        static final String NAME = "sparkgpt-weights";
        /** How often a waiting fetch looks whether its task is ending. */
        static final long STOP_POLL_MS = 50;

        /** An executor's question: is block (of the weights with this id) put? The answer: how many are. */
        record Ask(long id, int block) implements Serializable {}

        /** A fetch waiting for block, answered through context. */
        private record Waiting(int block, RpcCallContext context) {}

        private static final class Progress {
            int put;
            final List<Waiting> waiting = new ArrayList<>();
        }

        private static final Map<SparkEnv, Served> ON = new WeakHashMap<>();
        private static final Map<SparkEnv, RpcEndpointRef> REFS = new WeakHashMap<>();

        private final RpcEnv env;
        /** The served weights not removed yet, by id. */
        private final Map<Long, Progress> progress = new HashMap<>();
        /** Why the last few closed ids were closed, for a task that asks after that. */
        private final Map<Long, String> closed = new LinkedHashMap<>() {
            @Override
            protected boolean removeEldestEntry(Map.Entry<Long, String> eldest) {
                return size() > 16;
            }
        };

        private Served(RpcEnv env) {
            this.env = env;
        }

        /** The endpoint of this driver, set up with its first served weights. */
        static synchronized Served on(SparkEnv sparkEnv) {
            return ON.computeIfAbsent(sparkEnv, e -> {
                Served s = new Served(e.rpcEnv());
                e.rpcEnv().setupEndpoint(NAME, s);
                return s;
            });
        }

        synchronized void open(long id) {
            progress.put(id, new Progress());
        }

        /** Blocks [0, count) of weights id are put. */
        synchronized void put(long id, int count) {
            Progress p = progress.get(id);
            p.put = count;
            p.waiting.removeIf(w -> {
                if (w.block() >= count) return false;
                w.context().reply(count);
                return true;
            });
        }

        /** Weights id will not be put (any more): who waits for them fails with why. */
        synchronized void close(long id, String why) {
            Progress p = progress.remove(id);
            if (p == null) return;
            closed.put(id, why);
            for (Waiting w : p.waiting) w.context().sendFailure(new IllegalStateException(why));
        }

        private synchronized void asked(Ask ask, RpcCallContext context) {
            Progress p = progress.get(ask.id());
            if (p == null) {
                context.sendFailure(new IllegalStateException(closed.getOrDefault(ask.id(), "weights " + ask.id() + " are not served")));
            } else if (ask.block() < p.put) {
                context.reply(p.put);
            } else {
                p.waiting.add(new Waiting(ask.block(), context));
            }
        }

        @Override
        public RpcEnv rpcEnv() {
            return env;
        }

        @Override
        public PartialFunction<Object, BoxedUnit> receiveAndReply(RpcCallContext context) {
            return new AbstractPartialFunction<>() {
                @Override
                public boolean isDefinedAt(Object message) {
                    return message instanceof Ask;
                }

                @Override
                @SuppressWarnings("unchecked")
                public <A1, B1> B1 applyOrElse(A1 message, Function1<A1, B1> otherwise) {
                    if (!(message instanceof Ask ask)) return otherwise.apply(message);
                    asked(ask, context);
                    return (B1) BoxedUnit.UNIT;
                }
            };
        }

        /**
         * In a task: waits until block of weights id is put, and returns how many are; stops (throws) once stopped
         * says so. An ask that times out (spark.rpc.askTimeout) is asked again: the driver may still be summing
         * the step before, behind a straggler.
         */
        static int await(long id, int block, BooleanSupplier stopped) throws InterruptedException {
            SparkEnv sparkEnv = SparkEnv.get();
            RpcEndpointRef driver;
            synchronized (Served.class) {
                driver = REFS.computeIfAbsent(sparkEnv, e -> RpcUtils.makeDriverRef(NAME, e.conf(), e.rpcEnv()));
            }
            RpcTimeout timeout = RpcUtils.askRpcTimeout(sparkEnv.conf());
            while (true) {
                CompletableFuture<Integer> answer = FutureConverters.asJava(driver.<Integer>ask(new Ask(id, block), timeout,
                        scala.reflect.ClassTag$.MODULE$.apply(Integer.class))).toCompletableFuture();
                while (true) {
                    if (stopped.getAsBoolean()) throw new IllegalStateException("the task ended while weight block " + block + " was awaited");
                    try {
                        return answer.get(STOP_POLL_MS, TimeUnit.MILLISECONDS);
                    } catch (TimeoutException e) {
                        // not yet: look whether the task is ending, and wait on
                    } catch (ExecutionException e) {
                        if (e.getCause() instanceof RpcTimeoutException) break; // ask again
                        throw new IllegalStateException("waiting for weight block " + block + ": " + e.getCause().getMessage(), e.getCause());
                    }
                }
            }
        }
    }
}
