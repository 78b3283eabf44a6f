// The treeAggregate value of a step: partial gradients and losses summed in an order fixed by
// partition index, never by the order in which Spark happens to combine them.
package sparkgpt.driver;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.Comparator;
import sparkgpt.kernels.cpu.Parallel;

/**
 * Float addition is not associative, and treeAggregate combines partial results in task-completion
 * order, so a plain float[] sum differs in its last bits from run to run. Here each partition's
 * partial is a segment [p, p+1); two segments are added only when they are aligned buddies
 * ([i*2^k, (i+1)*2^k) and the next one of the same size), always left + right. Whatever the
 * arrival order, all partials end in the same set of segments with the same bits (a binary tree
 * over partition indices), which {@link #gradients()} adds left to right. The empty value is the
 * identity: nothing the size of the model is captured in the treeAggregate closure.
 */
public final class GradientSum implements Serializable {

    /** Partitions [lo, lo + size): their summed losses and gradients (null in an eval). */
    static final class Segment implements Serializable {
        int lo, size;
        double lossSum;
        float[] grads;

        Segment() {} // Kryo

        Segment(int lo, int size, double lossSum, float[] grads) {
            this.lo = lo;
            this.size = size;
            this.lossSum = lossSum;
            this.grads = grads;
        }
    }

    private ArrayList<Segment> segments = new ArrayList<>();
    /** The slowest partition's compute, broadcast-fetch, forward and backward times (max is order-free). */
    long computeMs, fetchMs, forwardMs, backwardMs;
    /** Time spent adding gradients along the slowest path of the tree: seqOps add up, a combOp adds to the max of its sides. */
    long sumNanos;

    /** treeAggregate's seqOp: one partition's partial. */
    public static GradientSum add(GradientSum sum, GradientStep.Partial p) {
        long t0 = System.nanoTime();
        sum.segments.add(new Segment(p.partition, 1, p.lossSum, p.grads));
        sum.computeMs = Math.max(sum.computeMs, p.computeMs);
        sum.fetchMs = Math.max(sum.fetchMs, p.fetchMs);
        sum.forwardMs = Math.max(sum.forwardMs, p.forwardMs);
        sum.backwardMs = Math.max(sum.backwardMs, p.backwardMs);
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
        a.mergeBuddies();
        a.sumNanos = Math.max(a.sumNanos, b.sumNanos) + (System.nanoTime() - t0);
        return a;
    }

    private void mergeBuddies() {
        segments.sort(Comparator.comparingInt(s -> s.lo));
        for (int i = 0; i + 1 < segments.size(); ) {
            Segment l = segments.get(i), r = segments.get(i + 1);
            if (l.size == r.size && l.lo % (2 * l.size) == 0 && r.lo == l.lo + l.size) {
                l.lossSum += r.lossSum;
                if (l.grads != null) addInto(l.grads, r.grads);
                l.size *= 2;
                segments.remove(i + 1);
                i = Math.max(0, i - 1); // the grown segment may now have a buddy on its left
            } else {
                i++;
            }
        }
    }

    /** Summed token losses over all partitions. */
    public double lossSum() {
        double s = 0;
        for (Segment seg : segments) s += seg.lossSum; // sorted by lo: a fixed order
        return s;
    }

    /** Summed gradients over all partitions (reuses a partial's array). */
    public float[] gradients() {
        float[] total = segments.get(0).grads;
        for (int k = 1; k < segments.size(); k++) addInto(total, segments.get(k).grads);
        return total;
    }

    /** Partitions covered so far (a check that every partition reported). */
    public int partitions() {
        int n = 0;
        for (Segment seg : segments) n += seg.size;
        return n;
    }

    private static void addInto(float[] into, float[] g) {
        Parallel.parallelFor(into.length, (from, to) -> {
            for (int i = from; i < to; i++) into[i] += g[i];
        });
    }
}
