// bfloat16: the top 16 bits of an fp32 (sign, 8-bit exponent, 7-bit mantissa), how grad_dtype = bf16 ships
// gradients and weight_dtype = bf16 broadcasts weights.
package sparkgpt.driver;

/** Conversions between float and bfloat16 bits, rounding to nearest, ties to even (as torch's .to(bfloat16)). */
public final class BFloat16 {
    private BFloat16() {}

    /**
     * The bfloat16 nearest to x, ties to even. NaN stays a (quiet) NaN with its sign; infinities
     * and signed zeros are kept; a finite value past the largest bfloat16 (3.3895314e38) rounds to
     * infinity, as in IEEE rounding; fp32 subnormals round to bfloat16 subnormals or zero.
     */
    public static short bits(float x) {
        int b = Float.floatToRawIntBits(x);
        if ((b & 0x7fffffff) > 0x7f800000) return (short) ((b >>> 16) | 0x0040); // NaN: keep it a NaN
        b += 0x7fff + ((b >>> 16) & 1);
        return (short) (b >>> 16);
    }

    public static float toFloat(short bits) {
        return Float.intBitsToFloat((bits & 0xffff) << 16);
    }

    /**
     * bits(src[from + i]) into dst[at + i] for i in [0, n): the same bits as {@link #bits}, value by value.
     * One branch-free loop over a range (the NaN case is a select, not a jump), which the JIT unrolls;
     * on large arrays it runs several times faster than one call and one Kryo writeShort per value.
     */
    public static void toBits(float[] src, int from, short[] dst, int at, int n) {
        for (int i = 0; i < n; i++) {
            int b = Float.floatToRawIntBits(src[from + i]);
            int rounded = (b + 0x7fff + ((b >>> 16) & 1)) >>> 16;
            int nan = (b >>> 16) | 0x0040;
            dst[at + i] = (short) ((b & 0x7fffffff) > 0x7f800000 ? nan : rounded);
        }
    }

    /** toFloat(src[from + i]) into dst[at + i] for i in [0, n): exact (every bfloat16 is a float). */
    public static void toFloats(short[] src, int from, float[] dst, int at, int n) {
        for (int i = 0; i < n; i++) dst[at + i] = Float.intBitsToFloat((src[from + i] & 0xffff) << 16);
    }

    /** x rounded to the nearest bfloat16, as a float. */
    public static float round(float x) {
        return toFloat(bits(x));
    }
}
