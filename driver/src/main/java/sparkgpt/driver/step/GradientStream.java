// aggregation = stream: an executor puts its gradient's blocks into its own block manager as the last
// micro-batch's backward pass finishes them, and the driver fetches and sums them while the backward
// pass goes on (DDP overlaps its all-reduce with backward the same way); the task's result carries
// only the losses and timings. Blocks travel as little-endian fp32 off the heap, and are fetched from the
// block manager that holds them straight into floats (also the weights' blocks, WeightBlocks.served).
package sparkgpt.driver.step;

import java.io.IOException;
import java.io.Serializable;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Collections;
import java.util.Map;
import java.util.Queue;
import java.util.Set;
import java.util.WeakHashMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ConcurrentSkipListSet;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import io.netty.buffer.ByteBuf;
import org.apache.spark.SparkContext;
import org.apache.spark.SparkEnv;
import org.apache.spark.network.buffer.ManagedBuffer;
import org.apache.spark.network.buffer.NettyManagedBuffer;
import org.apache.spark.network.buffer.NioManagedBuffer;
import org.apache.spark.network.shuffle.BlockFetchingListener;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerBlockUpdated;
import org.apache.spark.storage.BlockId;
import org.apache.spark.storage.BlockManager;
import org.apache.spark.storage.BlockManagerId;
import org.apache.spark.storage.BroadcastBlockId;
import org.apache.spark.storage.BlockUpdatedInfo;
import org.apache.spark.storage.StorageLevel;
import org.apache.spark.util.io.ChunkedByteBuffer;
import scala.Option;

/**
 * The blocks are the weights' blocks ({@link WeightBlocks#broadcast} with the layers' cuts): the final
 * LayerNorm, each layer, the embeddings (with the tied wte, written by the backward pass both first and last),
 * none over transfer_block_mb. Partition p's block k is {@code BroadcastBlockId(id, "gradient_p_k")}, id a
 * number of the step's own far above the ids SparkContext gives its broadcasts (counted from 0), so that one
 * removeBroadcast drops a step's blocks from every executor. The block manager reports every put to the
 * driver's master, which posts it as a SparkListenerBlockUpdated: that event starts the block's fetch.
 * <p>
 * A block is the same bytes whichever attempt of its task put it (the same weights, windows and kernels), so
 * the driver takes the first copy it finds: a speculative copy's or a rerun's. The per-block sums follow
 * {@link GradientSum}'s buddy rule over partitions: the same additions, in the same order, as aggregation =
 * tree, so the same bits. A block lost after its task ended (its executor gone) fails the gather with
 * {@link BlockLost}; the step's job then runs again.
 */
public final class GradientStream {
    private GradientStream() {}

    /** The first step id; SparkContext numbers its broadcasts from 0. */
    static final long FIRST_ID = 1L << 48;
    private static final AtomicLong NEXT = new AtomicLong(FIRST_ID);

    /** What a step's tasks carry: the step's id and where each block starts in the flat gradient (and, last, P). */
    public record Channel(long id, long[] starts) implements Serializable {
        int blocks() {
            return starts.length - 1;
        }

        BlockId block(int partition, int k) {
            return new BroadcastBlockId(id, "gradient_" + partition + "_" + k);
        }
    }

    /** A new step's channel over blocks that start at starts (the last entry: the gradient's size). */
    static Channel open(long[] starts) {
        return new Channel(nextId(), starts);
    }

    /** A new id for a step's blocks (also the weights' when the driver serves them: WeightBlocks.served). */
    static long nextId() {
        return NEXT.getAndIncrement();
    }

    /**
     * floats [from, from + len) of src as little-endian bytes, the blocks' format, off the heap: the socket writes
     * them as they are (a heap buffer is first copied to a direct one, 256 KiB at a time, by every send). The buffer
     * comes from {@link #POOL} and goes back there when the block manager removes the block (MemoryStore disposes a
     * removed block's buffers, once no fetch reads it): the same blocks are put every step, and a fresh 53 MB of
     * direct memory costs ~16 ms more than a reused one here (the kernel maps and zeroes its pages on first touch).
     */
    static ChunkedByteBuffer bytes(float[] src, int from, int len) {
        ByteBuffer bytes = POOL.computeIfAbsent(4 * len, n -> new ConcurrentLinkedQueue<>()).poll();
        if (bytes == null) bytes = ByteBuffer.allocateDirect(4 * len).order(ByteOrder.LITTLE_ENDIAN);
        bytes.asFloatBuffer().put(src, from, len);
        return new Pooled(bytes);
    }

    /** Direct buffers of removed blocks by their size in bytes, at most POOLED of each. */
    private static final Map<Integer, Queue<ByteBuffer>> POOL = new ConcurrentHashMap<>();
    /** Two steps' worth: a step's blocks may still be on their way out while the next step's are put. */
    static final int POOLED = 2;

    /** A block's bytes whose buffer goes back to the pool, not to the allocator, when the block is removed. */
    private static final class Pooled extends ChunkedByteBuffer {
        private final AtomicBoolean disposed = new AtomicBoolean();

        Pooled(ByteBuffer bytes) {
            super(bytes);
        }

        @Override
        public void dispose() {
            if (!disposed.compareAndSet(false, true)) return;
            ByteBuffer bytes = chunks()[0];
            Queue<ByteBuffer> free = POOL.get(bytes.capacity());
            if (free.size() < POOLED) free.add(bytes.clear());
            else super.dispose();
        }
    }

    // ---- on an executor ----

    /** The threads that put gradient blocks beside the tasks computing them (one chain of puts per task). */
    private static final ExecutorService PUTS = Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "sparkgpt-gradients");
        t.setDaemon(true);
        return t;
    });

    /** Step ids whose blocks this executor put: a killed attempt's late blocks are dropped by the next step's. */
    private static final ConcurrentSkipListSet<Long> PUT = new ConcurrentSkipListSet<>();

    /** One task's blocks, put from the last down, each once the backward pass has finished it. */
    static final class Sender {
        private final Channel channel;
        private final int partition;
        private final float[] grads;
        /** Blocks [next, n) are on their way. */
        private int next;
        private CompletableFuture<Void> puts = CompletableFuture.completedFuture(null);

        Sender(Channel channel, int partition, float[] grads) {
            this.channel = channel;
            this.partition = partition;
            this.grads = grads;
            this.next = channel.blocks();
            BlockManager bm = SparkEnv.get().blockManager();
            for (Long old : PUT.headSet(channel.id())) {
                bm.removeBroadcast(old, true);
                PUT.remove(old);
            }
            PUT.add(channel.id());
        }

        /** Floats [from, P) of the gradient are final: their blocks go (Gpt.backward's gradsFinal). */
        void finalFrom(long from) {
            while (next > 0 && channel.starts()[next - 1] >= from) {
                int k = --next;
                puts = puts.thenRunAsync(() -> put(k), PUTS);
            }
        }

        /** After the last backward: every block is put when this returns; a failed put is thrown. */
        void finish() {
            finalFrom(0);
            try {
                puts.join();
            } catch (CompletionException e) {
                if (e.getCause() instanceof RuntimeException r) throw r;
                if (e.getCause() instanceof Error r) throw r;
                throw e;
            }
        }

        /** Waits until no put reads the gradient buffer any more (before the model goes back to its pool). */
        void settle() {
            puts.handle((v, t) -> null).join(); // a failed put ends the chain too: nothing to throw here
        }

        private void put(int k) {
            int from = (int) channel.starts()[k], len = (int) (channel.starts()[k + 1] - from);
            SparkEnv.get().blockManager().putBytes(channel.block(partition, k), bytes(grads, from, len),
                    StorageLevel.MEMORY_AND_DISK_SER(), true, scala.reflect.ClassTag$.MODULE$.apply(byte[].class));
        }
    }

    // ---- on the driver ----

    /** A block whose task ended but which no executor could give: the step runs again. */
    static final class BlockLost extends RuntimeException {
        BlockLost(String message) {
            super(message);
        }
    }

    /** Fetches (up to one per partition at a time) beside the step's job. */
    private static final ExecutorService FETCHES = Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "sparkgpt-gather");
        t.setDaemon(true);
        return t;
    });

    /** The gathers of the steps in flight, by step id (for the listener's announcements). */
    private static final Map<Long, Gather> ACTIVE = new ConcurrentHashMap<>();
    private static final Set<SparkContext> LISTENING = Collections.synchronizedSet(Collections.newSetFromMap(new WeakHashMap<>()));

    /** Without an announcement a fetch is still tried this often (a listener event may be dropped). */
    static final long POLL_MS = 200;
    /** After the job: tries, this far apart, before a block counts as lost. */
    static final int LOST_TRIES = 20;
    static final long LOST_WAIT_MS = 100;

    /** Starts fetching and summing a step's blocks from partitions tasks; the job is submitted after this. */
    static Gather gather(SparkContext sc, Channel channel, int partitions, float[] into) {
        if (LISTENING.add(sc)) sc.addSparkListener(new Announcer());
        Gather g = new Gather(channel, partitions, into);
        ACTIVE.put(channel.id(), g);
        for (int p = 0; p < partitions; p++) {
            int partition = p;
            FETCHES.execute(() -> g.fetchAll(partition));
        }
        return g;
    }

    /** Turns the master's block reports into announcements for the gathers in flight. */
    private static final class Announcer extends SparkListener {
        @Override
        public void onBlockUpdated(SparkListenerBlockUpdated event) {
            BlockUpdatedInfo info = event.blockUpdatedInfo();
            if (info.blockId() instanceof BroadcastBlockId b && b.broadcastId() >= FIRST_ID && info.storageLevel().isValid()) {
                Gather g = ACTIVE.get(b.broadcastId());
                String[] f = b.field().split("_"); // gradient_p_k
                if (g != null && f.length == 3) g.announced(Integer.parseInt(f[1]), Integer.parseInt(f[2]), info.blockManagerId());
            }
        }
    }

    /** A step's blocks from every partition, summed per block into the driver's flat gradient. */
    static final class Gather {
        private final Channel channel;
        private final int partitions;
        private final float[] into;
        private final GradientSum[] sums;
        /** The arrays each partition's block k was fetched into, until the block's sum is in place. */
        private final float[][][] fetched;
        private final boolean[][] announced;
        /** Where each block's put was reported (fetched from there first); null: not reported, or that fetch failed. */
        private final BlockManagerId[][] where;
        private int summed;
        private Throwable failure;
        private boolean stopped;
        private volatile boolean jobDone;

        Gather(Channel channel, int partitions, float[] into) {
            this.channel = channel;
            this.partitions = partitions;
            this.into = into;
            this.sums = new GradientSum[channel.blocks()];
            this.fetched = new float[channel.blocks()][partitions][];
            this.announced = new boolean[partitions][channel.blocks()];
            this.where = new BlockManagerId[partitions][channel.blocks()];
        }

        synchronized void announced(int p, int k, BlockManagerId at) {
            if (p < partitions && k < sums.length) {
                announced[p][k] = true;
                where[p][k] = at;
                notifyAll();
            }
        }

        /** The job ended well: every block has been put; one not found now is lost. */
        synchronized void jobDone() {
            jobDone = true;
            notifyAll();
        }

        /** Waits until every block is summed into the flat gradient, which it returns; or throws the gather's failure. */
        synchronized float[] await() throws InterruptedException {
            while (summed < sums.length && failure == null) wait();
            if (failure instanceof RuntimeException r) throw r;
            if (failure instanceof Error e) throw e;
            if (failure != null) throw new IllegalStateException(failure);
            return into;
        }

        /** Stops the fetches and drops the step's blocks from every executor (and from the listener's view). */
        void close() {
            synchronized (this) {
                stopped = true;
                notifyAll();
            }
            ACTIVE.remove(channel.id());
            SparkEnv.get().blockManager().master().removeBroadcast(channel.id(), true, false);
        }

        private synchronized void fail(Throwable t) {
            if (failure == null) failure = t;
            notifyAll();
        }

        /** Partition p's blocks, in the order the backward pass finishes them (the last first). */
        private void fetchAll(int p) {
            try {
                for (int k = sums.length - 1; k >= 0; k--) {
                    float[] g = FloatPool.take((int) (channel.starts()[k + 1] - channel.starts()[k]));
                    if (!fetch(p, k, g)) return; // stopped
                    add(p, k, g);
                }
            } catch (Throwable t) {
                fail(t);
            }
        }

        /**
         * Block k of partition p into g, once it is announced (or POLL_MS passed): from the block manager that reported
         * its put, else from wherever the master knows a copy. False once stopped.
         */
        private boolean fetch(int p, int k, float[] g) throws InterruptedException, IOException {
            BlockId id = channel.block(p, k);
            String what = "partition " + p + "'s gradient block " + k;
            BlockManager bm = SparkEnv.get().blockManager();
            long lastTry = Long.MIN_VALUE / 2;
            int missed = 0;
            while (true) {
                BlockManagerId at;
                synchronized (this) {
                    long idle;
                    while (!stopped && failure == null && !announced[p][k] && !jobDone
                            && (idle = POLL_MS - (System.nanoTime() - lastTry) / 1_000_000) > 0) {
                        wait(idle);
                    }
                    if (stopped || failure != null) return false;
                    announced[p][k] = false; // taken: a fetch that finds nothing waits for the next report
                    at = where[p][k];
                    where[p][k] = null; // tried once: a failed fetch goes through the master next
                }
                lastTry = System.nanoTime();
                if (at != null) {
                    try {
                        fetchFloats(at, id, g, 0, g.length, what);
                        return true;
                    } catch (IllegalStateException e) {
                        // that executor lost it (or is gone): another copy, a speculative attempt's, may still be found
                    }
                }
                Option<ChunkedByteBuffer> got = bm.getRemoteBytes(id);
                if (got.isDefined()) {
                    try {
                        checkSize(got.get().size(), g.length, what);
                        floatsFrom(got.get().getChunks(), g, 0, g.length, what);
                    } finally {
                        got.get().dispose();
                    }
                    return true;
                }
                if (jobDone) {
                    if (++missed >= LOST_TRIES) {
                        throw new BlockLost(id + " (partition " + p + "'s gradient block " + k + ") was not found on any"
                                + " executor after its task ended, " + missed + " tries over " + missed * LOST_WAIT_MS + " ms");
                    }
                    Thread.sleep(LOST_WAIT_MS);
                }
            }
        }

        /** Adds partition p's block k into the block's sum; a block summed over every partition goes into place. */
        private void add(int p, int k, float[] g) {
            synchronized (sums) {
                // one lock for all blocks: a block's sums are short beside its fetch, and the adds use every core
                sums[k] = sums[k] == null ? GradientSum.ofPartition(p, g) : GradientSum.merge(sums[k], GradientSum.ofPartition(p, g));
                fetched[k][p] = g;
                if (sums[k].partitions() < partitions) return;
                float[] total = sums[k].gradients()[0];
                System.arraycopy(total, 0, into, (int) channel.starts()[k], total.length);
                sums[k] = null;
                for (int q = 0; q < partitions; q++) { // every partition's array: the next step fetches into them
                    FloatPool.giveBack(fetched[k][q]);
                    fetched[k][q] = null;
                }
            }
            synchronized (this) {
                summed++;
                notifyAll();
            }
        }
    }

    /**
     * The driver's arrays that partitions' blocks are fetched into, reused from step to step instead of allocated
     * (and zeroed, and collected) anew: 106 MB a step for the bench model's two partitions. At most MAX_BYTES are
     * kept, so that a large model's many blocks do not stay on the heap between steps.
     */
    static final class FloatPool {
        private FloatPool() {}

        static final long MAX_BYTES = 256L << 20;
        private static final Map<Integer, Queue<float[]>> FREE = new ConcurrentHashMap<>();
        private static final AtomicLong KEPT = new AtomicLong();

        static float[] take(int floats) {
            float[] a = FREE.computeIfAbsent(floats, n -> new ConcurrentLinkedQueue<>()).poll();
            if (a == null) return new float[floats];
            KEPT.addAndGet(-4L * floats);
            return a;
        }

        /** Keeps a for the next take of its size, unless that would keep more than MAX_BYTES. */
        static void giveBack(float[] a) {
            if (KEPT.addAndGet(4L * a.length) > MAX_BYTES) KEPT.addAndGet(-4L * a.length);
            else FREE.computeIfAbsent(a.length, n -> new ConcurrentLinkedQueue<>()).add(a);
        }
    }

    // ---- one block of little-endian fp32, fetched from the block manager that holds it straight into floats ----
    // BlockManager.getRemoteBytes asks the master where a block is (an RPC), fetches it, and copies the received
    // frame twice on the heap (BlockTransferService.fetchBlockSync: the frame's many network buffers merged into one,
    // then into a ByteBuffer of its own) before the caller copies it into floats. The weights' blocks (on the driver)
    // and a gradient block (where its put was reported) are fetched from the block manager known to hold them, and
    // the network thread that receives one copies the frame's buffers, as the socket filled them, into the floats: one
    // copy of the block, and no allocation of its size (through a stream, 64 KiB at a time into a byte array and
    // from there into the floats, the bytes were copied twice).

    /**
     * Fetches block id from the block manager {@code from} into into[at, at + len); what names the block in an error.
     * What the fetch failed with (a block the holder does not have, a connection lost) is thrown as an
     * IllegalStateException. The received bytes are read into the floats on the network thread that received them.
     */
    static void fetchFloats(BlockManagerId from, BlockId id, float[] into, int at, int len, String what) throws InterruptedException {
        CompletableFuture<Void> done = new CompletableFuture<>();
        SparkEnv.get().blockManager().blockTransferService().fetchBlocks(from.host(), from.port(), from.executorId(),
                new String[] {id.name()}, new BlockFetchingListener() {
                    @Override
                    public void onBlockFetchSuccess(String blockId, ManagedBuffer data) {
                        try {
                            floatsFrom(data, into, at, len, what);
                            done.complete(null);
                        } catch (Throwable t) {
                            done.completeExceptionally(t);
                        }
                    }

                    @Override
                    public void onBlockFetchFailure(String blockId, Throwable t) {
                        done.completeExceptionally(t);
                    }
                }, null);
        try {
            done.get();
        } catch (ExecutionException e) {
            throw new IllegalStateException("fetching " + what + " (" + id + ") from " + from + " failed: " + e.getCause(),
                    e.getCause());
        }
    }

    /**
     * A received block's bytes (little-endian fp32) into into[at, at + len): straight from the network buffers they
     * arrived in (a frame as received, or a buffer); a block read from disk, from its file's bytes.
     */
    static void floatsFrom(ManagedBuffer data, float[] into, int at, int len, String what) throws IOException {
        checkSize(data.size(), len, what);
        if (!(data instanceof NettyManagedBuffer || data instanceof NioManagedBuffer)) {
            floatsFrom(new ByteBuffer[] {data.nioByteBuffer()}, into, at, len, what);
            return;
        }
        ByteBuf buf = (ByteBuf) data.convertToNetty(); // a retained view of the same memory
        try {
            floatsFrom(buf.nioBuffers(), into, at, len, what);
        } finally {
            buf.release();
        }
    }

    /** A block of size bytes holds len floats, or fails with both sizes. */
    private static void checkSize(long size, int len, String what) {
        if (size != 4L * len) throw new IllegalStateException(what + " has " + size + " bytes, expected " + 4L * len);
    }

    /**
     * The little-endian floats in parts, one after the other, into into[at, at + len). A frame arrives as the
     * socket's reads, whose sizes need not be multiples of 4: a float cut between two parts is put together.
     */
    static void floatsFrom(ByteBuffer[] parts, float[] into, int at, int len, String what) {
        ByteBuffer cut = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN);
        int done = 0;
        for (ByteBuffer part : parts) {
            ByteBuffer b = part.duplicate().order(ByteOrder.LITTLE_ENDIAN);
            if (cut.position() > 0) {
                while (cut.hasRemaining() && b.hasRemaining()) cut.put(b.get());
                if (cut.hasRemaining()) continue;
                into[at + done++] = cut.getFloat(0);
                cut.clear();
            }
            int n = Math.min(b.remaining() / 4, len - done);
            b.asFloatBuffer().get(into, at + done, n);
            done += n;
            b.position(b.position() + 4 * n);
            while (b.hasRemaining() && done < len) cut.put(b.get());
        }
        if (done != len || cut.position() > 0) {
            throw new IllegalStateException(what + " ended after " + (4L * done + cut.position()) + " of " + 4L * len + " bytes");
        }
    }
}
