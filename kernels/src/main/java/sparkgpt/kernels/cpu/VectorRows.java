// Row primitives for the cpu layers (max, exp-and-sum, scale, dot) on the Vector API: the softmax
// rows of attention and of the classifier use them. Sums run in a fixed lane order and exp is
// VectorMath's, so results do not depend on whether the JIT has compiled the code yet.
package sparkgpt.kernels.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;
import sparkgpt.kernels.Parallel;

final class VectorRows {
    private VectorRows() {}

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();

    /** max of a[off .. off+n) (n >= 1). */
    static float max(float[] a, int off, int n) {
        int i = 0;
        float m = Float.NEGATIVE_INFINITY;
        if (n >= L) {
            FloatVector acc = FloatVector.fromArray(S, a, off);
            for (i = L; i + L <= n; i += L) acc = acc.max(FloatVector.fromArray(S, a, off + i));
            m = acc.reduceLanes(VectorOperators.MAX);
        }
        for (; i < n; i++) m = Math.max(m, a[off + i]);
        return m;
    }

    /** dst[i] = exp(src[i] - shift) for n entries; returns their sum. src and dst may be the same. */
    static float expShifted(float[] src, int srcOff, float[] dst, int dstOff, int n, float shift) {
        int i = 0;
        FloatVector acc = FloatVector.zero(S);
        for (; i + L <= n; i += L) {
            FloatVector e = VectorMath.exp(FloatVector.fromArray(S, src, srcOff + i).sub(shift));
            e.intoArray(dst, dstOff + i);
            acc = acc.add(e);
        }
        float sum = VectorMath.sumLanes(acc);
        for (; i < n; i++) {
            float e = (float) Math.exp(src[srcOff + i] - shift);
            dst[dstOff + i] = e;
            sum += e;
        }
        return sum;
    }

    /** a[off .. off+n) *= s. */
    static void scale(float[] a, int off, int n, float s) {
        int i = 0;
        for (; i + L <= n; i += L) FloatVector.fromArray(S, a, off + i).mul(s).intoArray(a, off + i);
        for (; i < n; i++) a[off + i] *= s;
    }

    /** dst[dstOff .. dstOff+n) = src[srcOff .. srcOff+n) * s. */
    static void scale(float[] src, int srcOff, float[] dst, int dstOff, int n, float s) {
        int i = 0;
        for (; i + L <= n; i += L) FloatVector.fromArray(S, src, srcOff + i).mul(s).intoArray(dst, dstOff + i);
        for (; i < n; i++) dst[dstOff + i] = src[srcOff + i] * s;
    }

    /** sum of a[i] * b[i] over n entries. */
    static float dot(float[] a, int aOff, float[] b, int bOff, int n) {
        int i = 0;
        FloatVector acc = FloatVector.zero(S);
        for (; i + L <= n; i += L) {
            acc = FloatVector.fromArray(S, a, aOff + i).fma(FloatVector.fromArray(S, b, bOff + i), acc);
        }
        float sum = VectorMath.sumLanes(acc);
        for (; i < n; i++) sum += a[aOff + i] * b[bOff + i];
        return sum;
    }

    /** dst[dstOff .. dstOff+n) += src[srcOff .. srcOff+n). */
    static void add(float[] src, int srcOff, float[] dst, int dstOff, int n) {
        int i = 0;
        for (; i + L <= n; i += L) {
            FloatVector.fromArray(S, dst, dstOff + i).add(FloatVector.fromArray(S, src, srcOff + i)).intoArray(dst, dstOff + i);
        }
        for (; i < n; i++) dst[dstOff + i] += src[srcOff + i];
    }

    /**
     * dst[dstOff + j] += sum over rows r of a[off + r * n + j], for j in [0, n), on the shared threads split by
     * column. Each column's sum is added into dst row after row in order, four vectors of columns at a time in
     * registers: the same additions in the same order whatever the thread count.
     */
    static void addColumnSums(float[] a, int off, int rows, int n, float[] dst, int dstOff) {
        int vectors = n / L;
        Parallel.parallelFor(vectors, (from, to) -> {
            int v = from;
            for (; v + 4 <= to; v += 4) {
                int c = v * L;
                FloatVector s0 = FloatVector.fromArray(S, dst, dstOff + c), s1 = FloatVector.fromArray(S, dst, dstOff + c + L),
                        s2 = FloatVector.fromArray(S, dst, dstOff + c + 2 * L), s3 = FloatVector.fromArray(S, dst, dstOff + c + 3 * L);
                for (int r = 0; r < rows; r++) {
                    int o = off + r * n + c;
                    s0 = s0.add(FloatVector.fromArray(S, a, o));
                    s1 = s1.add(FloatVector.fromArray(S, a, o + L));
                    s2 = s2.add(FloatVector.fromArray(S, a, o + 2 * L));
                    s3 = s3.add(FloatVector.fromArray(S, a, o + 3 * L));
                }
                s0.intoArray(dst, dstOff + c);
                s1.intoArray(dst, dstOff + c + L);
                s2.intoArray(dst, dstOff + c + 2 * L);
                s3.intoArray(dst, dstOff + c + 3 * L);
            }
            for (; v < to; v++) {
                int c = v * L;
                FloatVector s0 = FloatVector.fromArray(S, dst, dstOff + c);
                for (int r = 0; r < rows; r++) s0 = s0.add(FloatVector.fromArray(S, a, off + r * n + c));
                s0.intoArray(dst, dstOff + c);
            }
        });
        for (int r = 0; r < rows; r++) { // the columns past the last whole vector
            for (int j = vectors * L; j < n; j++) dst[dstOff + j] += a[off + r * n + j];
        }
    }
}
