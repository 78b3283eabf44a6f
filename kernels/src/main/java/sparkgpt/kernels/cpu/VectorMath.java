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
        x = x.max(LO).min(HI);
        FloatVector t = x.fma(LOG2E_V, ROUND_V);
        FloatVector k = t.sub(ROUND_V);
        // k * LN2_HI is exact (LN2_HI has 9 significant bits), so r carries no extra rounding
        FloatVector r = x.sub(k.mul(LN2_HI_V)).sub(k.mul(LN2_LO_V));
        FloatVector p = r.fma(P0, P1).fma(r, P2).fma(r, P3).fma(r, P4).fma(r, P5);
        FloatVector y = p.mul(r.mul(r)).add(r).add(ONE);
        IntVector twoK = ((IntVector) t.reinterpretAsInts()).sub(BIAS).lanewise(
                jdk.incubator.vector.VectorOperators.LSHL, 23);
        return y.mul((FloatVector) twoK.reinterpretAsFloats());
    }

    /**
     * The constants as vectors, made once: an operation with a scalar operand broadcasts it on every call, and
     * C2 compiles each broadcast as an intrinsic of its own. A loop method whose parse passes C2's node cutoff
     * has its remaining Vector API calls inlined late, where a store can lose its vector's exact type and fall
     * back to Java (boxed vectors, several times slower); fewer nodes keep the hot loops under that cutoff.
     */
    private static final FloatVector LO = FloatVector.broadcast(S, -87.3f), HI = FloatVector.broadcast(S, 88.3f),
            LOG2E_V = FloatVector.broadcast(S, LOG2E), ROUND_V = FloatVector.broadcast(S, ROUND),
            LN2_HI_V = FloatVector.broadcast(S, LN2_HI), LN2_LO_V = FloatVector.broadcast(S, LN2_LO),
            P0 = FloatVector.broadcast(S, 1.9875691500e-4f), P1 = FloatVector.broadcast(S, 1.3981999507e-3f),
            P2 = FloatVector.broadcast(S, 8.3334519073e-3f), P3 = FloatVector.broadcast(S, 4.1665795894e-2f),
            P4 = FloatVector.broadcast(S, 1.6666665459e-1f), P5 = FloatVector.broadcast(S, 5.0000001201e-1f);
    static final FloatVector ONE = FloatVector.broadcast(S, 1f);
    private static final IntVector BIAS = IntVector.broadcast(S.withLanes(int.class), ROUND_BITS - 127);

    /** Each thread's scratch for {@link #sumLanes}. */
    private static final ThreadLocal<float[]> LANES = ThreadLocal.withInitial(() -> new float[S.length()]);

    /**
     * Sum of the lanes in lane order (reduceLanes(ADD) leaves the order to the implementation). The lanes go
     * through a scratch array of the thread's: toArray's new array escapes into the vector store, so C2 cannot
     * remove it, and a call per softmax or LayerNorm row allocated 10-15 MB a second (JFR allocation samples).
     */
    static float sumLanes(FloatVector v) {
        float[] lanes = LANES.get();
        v.intoArray(lanes, 0);
        float s = 0f;
        for (float f : lanes) s += f;
        return s;
    }
}
