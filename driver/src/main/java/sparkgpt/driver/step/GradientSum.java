// The aggregated value of a step (treeAggregate) or of one gradient block (sliced reduce): partial
// gradients and losses summed in an order fixed by partition index, never by Spark's combine order.
package sparkgpt.driver.step;

import com.esotericsoftware.kryo.Kryo;
import com.esotericsoftware.kryo.KryoSerializable;
import com.esotericsoftware.kryo.io.Input;
import com.esotericsoftware.kryo.io.Output;
import com.esotericsoftware.kryo.io.UnsafeOutput;
import com.esotericsoftware.kryo.util.UnsafeUtil;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.Comparator;
import scala.Tuple2;
import sparkgpt.kernels.Parallel;

/**
 * Float addition is not associative, and treeAggregate combines partial results in task-completion
 * order, so a plain float[] sum differs in its last bits from run to run. Here each partition's
 * partial is a segment [p, p+1); two segments are added only when they are aligned buddies
 * ([i*2^k, (i+1)*2^k) and the next one of the same size), always left + right. Whatever the
 * arrival order, all partials end in the same set of segments with the same bits (a binary tree
 * over partition indices), which {@link #gradients()} adds left to right. The empty value is the
 * identity: nothing the size of the model is captured in the treeAggregate closure.
 * <p>
 * A segment holds the gradient as blocks (see {@link WeightBlocks}); the rule is the same whether
 * it holds all of a partition's blocks (aggregation = tree) or only block k (aggregation = sliced,
 * {@link #ofBlock}): per element the same additions in the same order, so both give the same bits.
 * With grad_dtype = bf16 every segment is rounded to bfloat16 each time it is serialized (the
 * partials leaving their task, and again any partial sum that travels: a tree level, a reduce
 * output on its way to the driver) and summed in fp32 wherever it is received.
 */
public final class GradientSum implements Serializable {

    /** Partitions [lo, lo + size): their summed losses and gradient blocks (null in an eval). */
    public static final class Segment implements Serializable, KryoSerializable {
        int lo, size;
        double lossSum;
        float[][] grads;
        /** Serialized as bfloat16 (16 bits a value) instead of fp32. */
        boolean bf16;
        /** Instead of grads: a model's own gradient buffer, lent until written, whose blocks of blockFloats are written from it. */
        transient float[] flat;
        transient int blockFloats;
        /** Run once the gradient has been written (it may be a model's own buffer, lent until then). */
        transient Runnable afterWrite;
        /** flat came by hand from a task of this JVM (local mode): it is the model's buffer itself, not a copy. */
        transient boolean handedOver;
        /** Gives the models whose buffers were handed over back to their pool, once the driver is done with them. */
        transient Runnable afterUse;

        Segment() {} // Kryo

        Segment(int lo, int size, double lossSum, float[][] grads, boolean bf16) {
            this.lo = lo;
            this.size = size;
            this.lossSum = lossSum;
            this.grads = grads;
            this.bf16 = bf16;
        }

        @Override
        public void write(Kryo kryo, Output out) {
            out.writeInt(lo);
            out.writeInt(size);
            out.writeDouble(lossSum);
            out.writeBoolean(bf16);
            if (grads == null && flat != null && !bf16 && InJvm.inDriver()) {
                // local mode: the driver reads this in the same JVM, so the gradient stays where it is and only its
                // handle travels (no 2-3 copies through Spark's result path; bf16 keeps its rounding, so is written)
                out.writeInt(HANDED_OVER);
                out.writeLong(InJvm.put(new Lent(flat, afterWrite))); // the model stays lent until the driver's update
                afterWrite = null;
                out.writeInt(blockFloats);
                return;
            }
            int n = grads != null ? grads.length : flat != null ? WeightBlocks.count(flat.length, blockFloats) : -1;
            out.writeInt(n);
            if (n < 0) return;
            for (int k = 0; k < n; k++) {
                float[] src = grads != null ? grads[k] : flat;
                int from = grads != null ? 0 : (int) WeightBlocks.offset(k, blockFloats);
                int len = grads != null ? src.length : WeightBlocks.length(k, flat.length, blockFloats);
                out.writeInt(len);
                if (bf16) {
                    writeBf16(out, src, from, len);
                } else {
                    writeFloats(out, src, from, len);
                }
            }
            released();
        }

        /**
         * Values per chunk when a block is written from a slice or as bf16: the extra memory stays at
         * 256 KiB whatever the block size.
         */
        static final int CHUNK = 1 << 16;

        /**
         * A slice of src as writeFloats would write it: whole arrays as they are; with spark.kryo.unsafe (the
         * default) a slice is copied straight from src, as UnsafeOutput.writeFloats copies a whole array;
         * else through a bounded chunk.
         */
        static void writeFloats(Output out, float[] src, int from, int len) {
            if (from == 0 && len == src.length) {
                out.writeFloats(src);
                return;
            }
            if (out instanceof UnsafeOutput unsafe) {
                unsafe.writeBytes(src, UnsafeUtil.floatArrayBaseOffset + 4L * from, 4L * len);
                return;
            }
            float[] chunk = new float[Math.min(CHUNK, len)];
            for (int i = 0; i < len; i += CHUNK) {
                int n = Math.min(CHUNK, len - i);
                if (n < chunk.length) chunk = new float[n]; // the ragged tail: Kryo 4 writes whole arrays only
                System.arraycopy(src, from + i, chunk, 0, n);
                out.writeFloats(chunk);
            }
        }

        /**
         * bf16 values go through a short[] chunk and Kryo's bulk writeShorts/readShorts (one memory copy with
         * spark.kryo.unsafe): 2 bytes a value, as one writeShort per value gave, but without a call per value.
         */
        static void writeBf16(Output out, float[] src, int from, int len) {
            short[] chunk = new short[Math.min(CHUNK, len)];
            for (int i = 0; i < len; i += CHUNK) {
                int n = Math.min(CHUNK, len - i);
                if (n < chunk.length) chunk = new short[n]; // the ragged tail: Kryo 4 writes whole arrays only
                BFloat16.toBits(src, from + i, chunk, 0, n);
                out.writeShorts(chunk);
            }
        }

        static float[] readBf16(Input in, int len) {
            float[] g = new float[len];
            for (int i = 0; i < len; i += CHUNK) {
                int n = Math.min(CHUNK, len - i);
                BFloat16.toFloats(in.readShorts(n), 0, g, i, n);
            }
            return g;
        }

        /** The lent buffer's blocks as arrays of their own (before any arithmetic on them). */
        void materialize() {
            if (grads == null && flat != null) {
                // a buffer handed over whole to the driver is used as it is when it is one block
                grads = handedOver && WeightBlocks.count(flat.length, blockFloats) == 1 ? new float[][] {flat}
                        : GradientStep.blocks(flat, blockFloats);
                flat = null;
            }
        }

        /** Java serialization (spark.serializer = JavaSerializer) also gives a lent model back. */
        private void writeObject(java.io.ObjectOutputStream out) throws java.io.IOException {
            materialize();
            out.defaultWriteObject();
            released();
        }

        /** After the gradient was written out: lent and handed-over buffers (a sum serialized again) go back. */
        private void released() {
            Runnable r = afterWrite, u = afterUse;
            afterWrite = null;
            afterUse = null;
            if (r != null) r.run();
            if (u != null) u.run();
        }

        @Override
        public void read(Kryo kryo, Input in) {
            lo = in.readInt();
            size = in.readInt();
            lossSum = in.readDouble();
            bf16 = in.readBoolean();
            int n = in.readInt();
            if (n == HANDED_OVER) {
                Lent lent = InJvm.take(in.readLong(), Lent.class);
                flat = lent.buffer();
                afterUse = lent.giveBack();
                blockFloats = in.readInt();
                handedOver = true;
                return;
            }
            if (n < 0) return;
            grads = new float[n][];
            for (int k = 0; k < n; k++) {
                int len = in.readInt();
                if (bf16) {
                    grads[k] = readBf16(in, len);
                } else {
                    grads[k] = in.readFloats(len);
                }
            }
        }
    }

    /** The count a segment writes instead of its blocks' when its gradient is handed over within the JVM ({@link InJvm}). */
    static final int HANDED_OVER = -2;

    /** A model's gradient buffer handed over to the driver, and what gives the model back. */
    record Lent(float[] buffer, Runnable giveBack) {}

    private ArrayList<Segment> segments = new ArrayList<>();
    /** The slowest partition's compute, broadcast-fetch, forward and backward times (max is order-free). */
    public long computeMs, fetchMs, forwardMs, backwardMs;
    /** The slowest partition's time reading its windows (part of computeMs). */
    public long dataNanos;
    /** The lowest of the partitions' {@link GradientStep.Partial#onCpu} (NaN where none measured it). */
    public double onCpu = Double.NaN;
    /** The device a partition's kernels ran on (the first one reported: executors of one job share a kind). */
    public String device;
    /** Time spent adding gradients along the slowest path of the tree: seqOps add up, a combOp adds to the max of its sides. */
    public long sumNanos;

    /** treeAggregate's seqOp: one partition's partial. */
    public static GradientSum add(GradientSum sum, GradientStep.Partial p) {
        long t0 = System.nanoTime();
        Segment seg = new Segment(p.partition, 1, p.lossSum, p.grads, p.bf16);
        seg.flat = p.flat;
        seg.blockFloats = p.blockFloats;
        seg.afterWrite = p.afterSerialized;
        sum.segments.add(seg);
        sum.computeMs = Math.max(sum.computeMs, p.computeMs);
        sum.fetchMs = Math.max(sum.fetchMs, p.fetchMs);
        sum.forwardMs = Math.max(sum.forwardMs, p.forwardMs);
        sum.backwardMs = Math.max(sum.backwardMs, p.backwardMs);
        sum.dataNanos = Math.max(sum.dataNanos, p.dataNanos);
        sum.onCpu = lowest(sum.onCpu, p.onCpu);
        if (sum.device == null) sum.device = p.device;
        sum.mergeBuddies();
        sum.sumNanos += System.nanoTime() - t0;
        return sum;
    }

    /** treeAggregate's combOp: modifies and returns a. */
    public static GradientSum merge(GradientSum a, GradientSum b) {
        long t0 = System.nanoTime();
        a.segments.addAll(b.segments);
        a.computeMs = Math.max(a.computeMs, b.computeMs);
        a.fetchMs = Math.max(a.fetchMs, b.fetchMs);
        a.forwardMs = Math.max(a.forwardMs, b.forwardMs);
        a.backwardMs = Math.max(a.backwardMs, b.backwardMs);
        a.dataNanos = Math.max(a.dataNanos, b.dataNanos);
        a.onCpu = lowest(a.onCpu, b.onCpu);
        if (a.device == null) a.device = b.device;
        a.mergeBuddies();
        a.sumNanos = Math.max(a.sumNanos, b.sumNanos) + (System.nanoTime() - t0);
        return a;
    }

    /**
     * The sliced records of one partial: (k, the sum holding only block k). The losses and timings
     * travel with block 0; the other blocks carry a loss of 0 and no timings.
     */
    public static java.util.Iterator<Tuple2<Integer, GradientSum>> ofBlocks(GradientStep.Partial p) {
        ArrayList<Tuple2<Integer, GradientSum>> out = new ArrayList<>(p.grads.length);
        for (int k = 0; k < p.grads.length; k++) out.add(new Tuple2<>(k, ofBlock(p, k)));
        return out.iterator();
    }

    /** Block k of a partial as a one-block sum (losses and timings with block 0 only). */
    static GradientSum ofBlock(GradientStep.Partial p, int k) {
        GradientSum sum = new GradientSum();
        sum.segments.add(new Segment(p.partition, 1, k == 0 ? p.lossSum : 0, new float[][] {p.grads[k]}, p.bf16));
        if (k == 0) {
            sum.computeMs = p.computeMs;
            sum.fetchMs = p.fetchMs;
            sum.forwardMs = p.forwardMs;
            sum.backwardMs = p.backwardMs;
            sum.dataNanos = p.dataNanos;
            sum.onCpu = p.onCpu;
            sum.device = p.device;
        }
        return sum;
    }

    /** The smaller of two CPU shares, either of which may be NaN (not measured). */
    static double lowest(double a, double b) {
        return Double.isNaN(a) ? b : Double.isNaN(b) ? a : Math.min(a, b);
    }

    /** One partition's copy of one gradient block, as a one-block sum (aggregation = stream). */
    static GradientSum ofPartition(int partition, float[] block) {
        GradientSum sum = new GradientSum();
        sum.segments.add(new Segment(partition, 1, 0, new float[][] {block}, false));
        return sum;
    }

    /** Sends gradient block k to reduce partition k mod R. */
    public static final class BlockPartitioner extends org.apache.spark.Partitioner {
        private final int reducers;

        public BlockPartitioner(int reducers) {
            this.reducers = reducers;
        }

        @Override
        public int numPartitions() {
            return reducers;
        }

        @Override
        public int getPartition(Object key) {
            return (Integer) key % reducers;
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof BlockPartitioner b && b.reducers == reducers;
        }

        @Override
        public int hashCode() {
            return reducers;
        }
    }

    private void mergeBuddies() {
        segments.sort(Comparator.comparingInt(s -> s.lo));
        for (int i = 0; i + 1 < segments.size(); ) {
            Segment l = segments.get(i), r = segments.get(i + 1);
            if (l.size == r.size && l.lo % (2 * l.size) == 0 && r.lo == l.lo + l.size) {
                l.lossSum += r.lossSum;
                l.materialize();
                r.materialize();
                if (l.grads != null) addInto(l.grads, r.grads);
                if (r.afterWrite != null) { // both ran in one task (never with one partition a task): r's array is added
                    Runnable a = l.afterWrite, b = r.afterWrite;
                    l.afterWrite = a == null ? b : () -> { a.run(); b.run(); };
                }
                if (r.afterUse != null) {
                    Runnable a = l.afterUse, b = r.afterUse;
                    l.afterUse = a == null ? b : () -> { a.run(); b.run(); };
                }
                l.size *= 2;
                segments.remove(i + 1);
                i = Math.max(0, i - 1); // the grown segment may now have a buddy on its left
            } else {
                i++;
            }
        }
    }

    /**
     * Gives back the models whose gradient buffers were handed over to this sum (local mode), once the driver has
     * used the gradient: until then no task may borrow them (a later task of the same job would zero them).
     */
    public void release() {
        for (Segment seg : segments) {
            Runnable r = seg.afterUse;
            seg.afterUse = null;
            if (r != null) r.run();
        }
    }

    /** Summed token losses over all partitions. */
    public double lossSum() {
        double s = 0;
        for (Segment seg : segments) s += seg.lossSum; // sorted by lo: a fixed order
        return s;
    }

    /** Summed gradient blocks over all partitions (reuses a partial's arrays). */
    public float[][] gradients() {
        for (Segment seg : segments) seg.materialize();
        float[][] total = segments.get(0).grads;
        for (int k = 1; k < segments.size(); k++) addInto(total, segments.get(k).grads);
        return total;
    }

    /**
     * Summed gradients as one flat vector: the sum's own array when there is one block, else the
     * blocks copied into flat (one buffer the driver keeps for the whole run).
     */
    public float[] flatGradients(float[] flat, int blockFloats) {
        float[][] blocks = gradients();
        if (blocks.length == 1) return blocks[0];
        for (int k = 0; k < blocks.length; k++) {
            System.arraycopy(blocks[k], 0, flat, (int) WeightBlocks.offset(k, blockFloats), blocks[k].length);
        }
        return flat;
    }

    /** Partitions covered so far (a check that every partition reported). */
    public int partitions() {
        int n = 0;
        for (Segment seg : segments) n += seg.size;
        return n;
    }

    private static void addInto(float[][] into, float[][] g) {
        for (int k = 0; k < into.length; k++) addInto(into[k], g[k]);
    }

    private static void addInto(float[] into, float[] g) {
        Parallel.parallelFor(into.length, (from, to) -> {
            for (int i = from; i < to; i++) into[i] += g[i];
        });
    }
}
