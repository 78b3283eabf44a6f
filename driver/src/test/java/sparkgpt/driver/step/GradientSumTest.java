// The aggregated gradient does not depend on the order or grouping in which partials are combined.
package sparkgpt.driver.step;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.spark.SparkConf;
import org.apache.spark.serializer.KryoSerializer;
import org.apache.spark.serializer.SerializerInstance;
import org.junit.jupiter.api.Test;
import scala.reflect.ClassTag$;
import sparkgpt.driver.train.SparkSetup;

class GradientSumTest {

    static GradientStep.Partial partial(int p, long seed) {
        Random r = new Random(seed + p);
        float[] g = new float[257];
        for (int i = 0; i < g.length; i++) g[i] = (float) (r.nextGaussian() * Math.pow(10, r.nextInt(8) - 4));
        return new GradientStep.Partial(p, r.nextDouble() * 1e3, new float[][] {g}, p, 0, 0, 0);
    }

    /** Combines the partials as a random tree of seqOp/combOp in a random order. */
    static GradientSum randomTree(int partitions, Random order) {
        List<GradientSum> pending = new ArrayList<>();
        List<Integer> ps = new ArrayList<>();
        for (int p = 0; p < partitions; p++) ps.add(p);
        Collections.shuffle(ps, order);
        for (int p : ps) pending.add(GradientSum.add(new GradientSum(), partial(p, 7)));
        while (pending.size() > 1) {
            GradientSum a = pending.remove(order.nextInt(pending.size()));
            GradientSum b = pending.remove(order.nextInt(pending.size()));
            pending.add(order.nextBoolean() ? GradientSum.merge(a, b) : GradientSum.merge(b, a));
        }
        return pending.get(0);
    }

    @Test
    void sameBitsWhateverTheCombineOrder() {
        for (int partitions : new int[] {1, 2, 3, 5, 8, 13}) {
            GradientSum first = randomTree(partitions, new Random(1));
            float[] expected = first.gradients()[0].clone();
            double loss = first.lossSum();
            assertEquals(partitions, first.partitions());
            for (int trial = 2; trial < 12; trial++) {
                GradientSum s = randomTree(partitions, new Random(trial));
                assertArrayEquals(expected, s.gradients()[0], "partitions " + partitions + ", order " + trial);
                assertEquals(loss, s.lossSum(), 0.0);
            }
        }
    }

    @Test
    void naiveSumsInAnotherOrderDiffer() {
        // the reason for GradientSum: a left-to-right float sum in another order changes bits
        float[][] g = new float[8][];
        for (int p = 0; p < 8; p++) g[p] = partial(p, 7).grads[0];
        float[] forward = new float[257], backward = new float[257];
        for (int p = 0; p < 8; p++) for (int i = 0; i < 257; i++) forward[i] += g[p][i];
        for (int p = 7; p >= 0; p--) for (int i = 0; i < 257; i++) backward[i] += g[p][i];
        assertNotEquals(java.util.Arrays.toString(forward), java.util.Arrays.toString(backward));
    }

    /**
     * A partial that lends the model's flat gradient buffer (aggregation = tree) is written block by block
     * straight from it: the same bytes as its blocks copied out, with ragged last blocks and blocks larger
     * than the write chunk, in fp32 and bf16, with Kryo's unsafe and safe streams; the model is given back
     * exactly once, after the write.
     */
    @Test
    void aLentFlatBufferWritesTheBytesOfItsBlocks() {
        Random r = new Random(3);
        float[] flat = new float[3 * GradientSum.Segment.CHUNK + 12_345];
        for (int i = 0; i < flat.length; i++) flat[i] = (float) r.nextGaussian();
        for (boolean unsafe : new boolean[] {true, false}) {
            SerializerInstance kryo = new KryoSerializer(new SparkConf().set("spark.kryo.registrationRequired", "true")
                    .set("spark.kryo.unsafe", String.valueOf(unsafe)).registerKryoClasses(SparkSetup.KRYO_CLASSES)).newInstance();
            for (int blockFloats : new int[] {flat.length, 1000, GradientSum.Segment.CHUNK + 1, 2 * GradientSum.Segment.CHUNK}) {
                for (boolean bf16 : new boolean[] {false, true}) {
                    String where = "unsafe " + unsafe + ", block " + blockFloats + ", bf16 " + bf16;
                    GradientStep.Partial copied = new GradientStep.Partial(4, 2.5, GradientStep.blocks(flat, blockFloats), 0, 0, 0, 0);
                    GradientStep.Partial lent = new GradientStep.Partial(4, 2.5, null, 0, 0, 0, 0);
                    copied.bf16 = lent.bf16 = bf16;
                    lent.flat = flat;
                    lent.blockFloats = blockFloats;
                    AtomicInteger givenBack = new AtomicInteger();
                    lent.afterSerialized = givenBack::incrementAndGet;
                    GradientSum sa = GradientSum.add(new GradientSum(), copied), sb = GradientSum.add(new GradientSum(), lent);
                    sa.sumNanos = sb.sumNanos = 0; // a timing: the one field allowed to differ
                    byte[] a = bytes(kryo.serialize((Object) sa, ClassTag$.MODULE$.Any()));
                    byte[] b = bytes(kryo.serialize((Object) sb, ClassTag$.MODULE$.Any()));
                    assertEquals(1, givenBack.get(), where);
                    org.junit.jupiter.api.Assertions.assertArrayEquals(a, b, where);
                    GradientSum back = (GradientSum) kryo.<Object>deserialize(java.nio.ByteBuffer.wrap(b), ClassTag$.MODULE$.Any());
                    float[] got = back.flatGradients(new float[flat.length], blockFloats);
                    for (int i = 0; i < flat.length; i++) {
                        if (got[i] != (bf16 ? BFloat16.round(flat[i]) : flat[i])) {
                            throw new AssertionError(where + ": value " + i + " is " + got[i] + ", wrote " + flat[i]);
                        }
                    }
                }
            }
        }
    }

    private static byte[] bytes(java.nio.ByteBuffer b) {
        byte[] out = new byte[b.remaining()];
        b.get(out);
        return out;
    }

    /** Summing partials that lend their buffers copies them first: the lent buffers are left as they were. */
    @Test
    void summingLentPartialsLeavesTheirBuffersAlone() {
        float[] a = {1, 2, 3, 4, 5}, b = {10, 20, 30, 40, 50};
        GradientSum sum = new GradientSum();
        for (int p = 0; p < 2; p++) {
            GradientStep.Partial lent = new GradientStep.Partial(p, 1, null, 0, 0, 0, 0);
            lent.flat = p == 0 ? a : b;
            lent.blockFloats = 2;
            GradientSum.add(sum, lent);
        }
        assertArrayEquals(new float[] {11, 22, 33, 44, 55}, sum.flatGradients(new float[5], 2));
        assertArrayEquals(new float[] {1, 2, 3, 4, 5}, a);
        assertArrayEquals(new float[] {10, 20, 30, 40, 50}, b);
    }
}
