// bfloat16 rounding (nearest, ties to even) and the serialized size of bf16 gradients.
package sparkgpt.driver.step;

import static org.junit.jupiter.api.Assertions.*;

import org.apache.spark.SparkConf;
import org.apache.spark.serializer.KryoSerializer;
import org.apache.spark.serializer.SerializerInstance;
import org.junit.jupiter.api.Test;
import scala.reflect.ClassTag$;
import sparkgpt.driver.train.SparkSetup;

class BFloat16Test {

    static int bits(float x) {
        return BFloat16.bits(x) & 0xffff;
    }

    @Test
    void goldenValues() {
        assertEquals(0x3f80, bits(1.0f));
        assertEquals(0xbf80, bits(-1.0f));
        // 1 + 2^-8 lies halfway between 1 and 1 + 2^-7: ties to the even mantissa, 1
        assertEquals(0x3f80, bits(1.0f + 0x1p-8f));
        // 1 + 3*2^-8 lies halfway between 1 + 2^-7 (odd) and 1 + 2^-6 (even): up
        assertEquals(0x3f82, bits(1.0f + 3 * 0x1p-8f));
        // just above the tie rounds up
        assertEquals(0x3f81, bits(Float.intBitsToFloat(0x3f808001)));
        assertEquals(1.0078125f, BFloat16.round(1.0078125f)); // exact in bf16
        // the largest finite bfloat16 stays; fp32's largest finite is past its halfway point to infinity
        assertEquals(0x7f7f, bits(Float.intBitsToFloat(0x7f7f0000)));
        assertEquals(3.3895314e38f, BFloat16.toFloat((short) 0x7f7f));
        assertEquals(0x7f80, bits(Float.MAX_VALUE));
        assertEquals(0x7f80, bits(Float.POSITIVE_INFINITY));
        assertEquals(0xff80, bits(Float.NEGATIVE_INFINITY));
        // subnormals: the smallest fp32 one rounds to zero, 2^-133 is the smallest bf16 subnormal
        assertEquals(0x0000, bits(Float.MIN_VALUE));
        assertEquals(0x0001, bits(0x1p-133f));
        assertEquals(0x1p-133f, BFloat16.round(0x1p-133f));
        assertEquals(0x0001, bits(0x1.8p-134f)); // 0.75 of the smallest: up to it
        assertEquals(0x0000, bits(0x1p-134f));   // half of it: ties to even, 0
        // NaN stays NaN (also one whose payload sits in the low bits only), signed zeros stay
        assertTrue(Float.isNaN(BFloat16.round(Float.NaN)));
        assertTrue(Float.isNaN(BFloat16.round(Float.intBitsToFloat(0x7f800001))));
        assertTrue(Float.isNaN(BFloat16.round(Float.intBitsToFloat(0xff800001))));
        assertEquals(0x8000, bits(-0.0f));
        assertEquals(Float.floatToRawIntBits(-0.0f), Float.floatToRawIntBits(BFloat16.round(-0.0f)));
        assertEquals(0x0000, bits(0.0f));
    }

    /** Edge values: signed zeros, subnormals, ties, the largest finite values, infinities, NaNs (low payload too). */
    static final int[] EDGE_BITS = {
            0x00000000, 0x80000000, 0x00000001, 0x80000001, 0x00008000, 0x00018000, 0x0000ffff, 0x007fffff,
            0x00800000, 0x3f800000, 0xbf800000, 0x3f808000, 0x3f818000, 0x3f808001, 0x3f807fff, 0x3f80ffff,
            0x7f7f0000, 0x7f7f7fff, 0x7f7f8000, 0x7f7fffff, 0xff7fffff, 0x7f800000, 0xff800000, 0x7f800001,
            0xff800001, 0x7fc00000, 0xffc00000, 0x7fffffff, 0xffffffff, 0x7f80ffff, 0x7f810000,
    };

    @Test
    void bulkConversionsGiveTheScalarBits() {
        java.util.Random random = new java.util.Random(42);
        int n = EDGE_BITS.length + 200_000;
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = Float.intBitsToFloat(i < EDGE_BITS.length ? EDGE_BITS[i] : random.nextInt());
        }
        // an offset source and destination range, with guard values around it that must stay untouched
        short[] bits = new short[n + 10];
        java.util.Arrays.fill(bits, (short) 0x1234);
        BFloat16.toBits(x, 3, bits, 5, n - 3);
        for (int i = 3; i < n; i++) {
            assertEquals(BFloat16.bits(x[i]), bits[i + 2], "value " + i + " = 0x" + Integer.toHexString(Float.floatToRawIntBits(x[i])));
        }
        assertEquals((short) 0x1234, bits[4]);
        assertEquals((short) 0x1234, bits[n + 2]);
        int nans = 0;
        for (int i = 0; i < n; i++) if (Float.isNaN(x[i])) nans++;
        assertTrue(nans > 10, "random bits include NaNs: " + nans);

        // every 16-bit pattern back to float: exactly the scalar's bits (NaN payloads included)
        short[] all = new short[1 << 16];
        for (int i = 0; i < all.length; i++) all[i] = (short) i;
        float[] back = new float[all.length + 2];
        BFloat16.toFloats(all, 0, back, 1, all.length);
        for (int i = 0; i < all.length; i++) {
            assertEquals(Float.floatToRawIntBits(BFloat16.toFloat(all[i])), Float.floatToRawIntBits(back[i + 1]), "bits " + i);
        }
        assertEquals(0f, back[0]);
        assertEquals(0f, back[all.length + 1]);
    }

    @Test
    void bf16SegmentsRoundTripWithTheScalarBitsThroughBothKryoModes() {
        // a ragged tail after two full chunks, and the edge values at both ends of a chunk
        int n = 2 * GradientSum.Segment.CHUNK + 3;
        float[] g = new float[n];
        java.util.Random random = new java.util.Random(7);
        for (int i = 0; i < n; i++) g[i] = Float.intBitsToFloat(random.nextInt());
        for (int i = 0; i < EDGE_BITS.length; i++) {
            g[i] = Float.intBitsToFloat(EDGE_BITS[i]);
            g[GradientSum.Segment.CHUNK - 1 - i] = Float.intBitsToFloat(EDGE_BITS[i]);
            g[n - 1 - i] = Float.intBitsToFloat(EDGE_BITS[i]);
        }
        for (String unsafe : new String[] {"true", "false"}) {
            SerializerInstance kryo = new KryoSerializer(new SparkConf()
                    .set("spark.kryo.registrationRequired", "true").set("spark.kryo.unsafe", unsafe)
                    .registerKryoClasses(SparkSetup.KRYO_CLASSES)).newInstance();
            GradientStep.Partial p = new GradientStep.Partial(0, 1.0, new float[][] {g.clone(), {1.5f}}, 0, 0, 0, 0);
            p.bf16 = true;
            java.nio.ByteBuffer bytes = kryo.serialize((Object) GradientSum.add(new GradientSum(), p), ClassTag$.MODULE$.Any());
            float[][] got = ((GradientSum) kryo.<Object>deserialize(bytes, ClassTag$.MODULE$.Any())).gradients();
            assertEquals(n, got[0].length);
            for (int i = 0; i < n; i++) {
                assertEquals(Float.floatToRawIntBits(BFloat16.toFloat(BFloat16.bits(g[i]))), Float.floatToRawIntBits(got[0][i]),
                        "unsafe " + unsafe + ", value " + i);
            }
            assertArrayEquals(new float[] {1.5f}, got[1]);
        }
    }

    @Test
    void bf16GradientsSerializeAtHalfTheBytes() {
        SerializerInstance kryo = new KryoSerializer(new SparkConf()
                .set("spark.kryo.registrationRequired", "true").set("spark.kryo.unsafe", "true")
                .registerKryoClasses(SparkSetup.KRYO_CLASSES)).newInstance();
        float[] g = new float[100_000];
        for (int i = 0; i < g.length; i++) g[i] = (float) Math.sin(i) * 1e-3f;
        long[] sizes = new long[2];
        for (int dtype = 0; dtype < 2; dtype++) {
            GradientStep.Partial p = new GradientStep.Partial(0, 1.0, new float[][] {g.clone(), g.clone()}, 0, 0, 0, 0);
            p.bf16 = dtype == 1;
            GradientSum sum = GradientSum.add(new GradientSum(), p);
            java.nio.ByteBuffer bytes = kryo.serialize((Object) sum, ClassTag$.MODULE$.Any());
            sizes[dtype] = bytes.limit();
            GradientSum back = (GradientSum) kryo.<Object>deserialize(bytes, ClassTag$.MODULE$.Any());
            float[][] got = back.gradients();
            for (int i = 0; i < g.length; i += 997) {
                assertEquals(dtype == 1 ? BFloat16.round(g[i]) : g[i], got[1][i]);
            }
            assertEquals(1.0, back.lossSum());
        }
        double ratio = (double) sizes[1] / sizes[0];
        assertEquals(0.5, ratio, 0.01, "bf16 " + sizes[1] + " bytes vs fp32 " + sizes[0]);
        assertTrue(sizes[0] >= 8L * g.length, "fp32 is 4 bytes a value: " + sizes[0]);
    }
}
