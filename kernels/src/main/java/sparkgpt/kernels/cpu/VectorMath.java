// exp on Vector API lanes from adds, multiplies and FMAs only, so that a result has the
// same bits interpreted, C1- or C2-compiled: the library's EXP/TANH lanewise ops differ in the
// last bit between the SVML intrinsic and the Java fallback, which broke run-to-run determinism.
package sparkgpt.kernels.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorSpecies;

final class VectorMath {
    private VectorMath() {}

    static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;

    private static final float LOG2E = 1.44269504088896341f;
    private static final float LN2_HI = 0.693359375f, LN2_LO = -2.12194440e-4f; // Cody-Waite split of ln 2
    private static final float ROUND = 12582912f; // 1.5 * 2^23: adding it rounds to an integer in the low bits
    private static final int ROUND_BITS = 0x4B400000;

    /**
     * e^x with a relative error of about 1e-7 (Cephes expf: x = k ln2 + r, |r| &lt;= ln2/2, a degree-6
     * polynomial for e^r, then 2^k from the exponent bits). x is clamped to [-87.3, 88.3], so very
     * negative inputs give ~1e-38 rather than 0 — invisible next to the 1 of a softmax's max entry.
     */
    static FloatVector exp(FloatVector x) {
        x = x.max(-87.3f).min(88.3f);
        FloatVector t = x.fma(LOG2E, ROUND);
        FloatVector k = t.sub(ROUND);
        // k * LN2_HI is exact (LN2_HI has 9 significant bits), so r carries no extra rounding
        FloatVector r = x.sub(k.mul(LN2_HI)).sub(k.mul(LN2_LO));
        FloatVector p = r.fma(FloatVector.broadcast(S, 1.9875691500e-4f), FloatVector.broadcast(S, 1.3981999507e-3f));
        p = p.fma(r, FloatVector.broadcast(S, 8.3334519073e-3f));
        p = p.fma(r, FloatVector.broadcast(S, 4.1665795894e-2f));
        p = p.fma(r, FloatVector.broadcast(S, 1.6666665459e-1f));
        p = p.fma(r, FloatVector.broadcast(S, 5.0000001201e-1f));
        FloatVector y = p.mul(r.mul(r)).add(r).add(1f);
        IntVector twoK = ((IntVector) t.reinterpretAsInts()).sub(ROUND_BITS - 127).lanewise(
                jdk.incubator.vector.VectorOperators.LSHL, 23);
        return y.mul((FloatVector) twoK.reinterpretAsFloats());
    }

    /** Sum of the lanes in lane order (reduceLanes(ADD) leaves the order to the implementation). */
    static float sumLanes(FloatVector v) {
        float[] lanes = v.toArray();
        float s = 0f;
        for (float f : lanes) s += f;
        return s;
    }
}
