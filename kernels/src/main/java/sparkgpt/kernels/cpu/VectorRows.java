// Row primitives for the cpu layers (max, exp-and-sum, scale, dot) on the Vector API: the softmax
// rows of attention and of the classifier use them. Sums run in a fixed lane order and exp is
// VectorMath's, so results do not depend on whether the JIT has compiled the code yet.
package sparkgpt.kernels.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

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
}
