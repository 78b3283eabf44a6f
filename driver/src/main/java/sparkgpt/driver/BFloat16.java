// bfloat16: the top 16 bits of an fp32 (sign, 8-bit exponent, 7-bit mantissa), how grad_dtype = bf16 ships gradients.
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

    /** x rounded to the nearest bfloat16, as a float. */
    public static float round(float x) {
        return toFloat(bits(x));
    }
}
