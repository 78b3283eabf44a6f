// Checks Sgemm.sgemm against the plain triple loop for every transpose case, with and without
// accumulation, on odd shapes, offsets and padded row strides.
package sparkgpt.kernels.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class SgemmTest {

    /** Relative tolerance: fp32 sums of up to ~1000 products of values in [-1, 1]. */
    private static final double TOL = 1e-4;

    /** M, N, K, plus the padding added to each row stride and the array offsets. */
    static Stream<Arguments> cases() {
        int[][] shapes = {
            {1, 1, 1}, {1, 17, 1}, {17, 1, 3}, {17, 131, 48}, {33, 5, 7}, {8, 32, 256}, {9, 33, 257},
            {131, 48, 17}, {64, 64, 64}, {100, 200, 300}, {513, 40, 9}, {40, 1030, 260}, {3, 2049, 5},
        };
        List<Arguments> out = new ArrayList<>();
        for (int[] s : shapes) {
            for (int t = 0; t < 4; t++) {
                for (boolean acc : new boolean[] {false, true}) {
                    boolean transA = (t & 2) != 0, transB = (t & 1) != 0;
                    out.add(Arguments.of(transA, transB, s[0], s[1], s[2], 0, 0, acc));
                    out.add(Arguments.of(transA, transB, s[0], s[1], s[2], 3, 5, acc));
                }
            }
        }
        return out.stream();
    }

    @ParameterizedTest(name = "transA={0} transB={1} M={2} N={3} K={4} pad={5} off={6} acc={7}")
    @MethodSource("cases")
    void matchesReference(boolean transA, boolean transB, int M, int N, int K, int pad, int off,
                          boolean accumulate) {
        SplittableRandom rnd = new SplittableRandom(31L * M + 7L * N + K + (transA ? 1 : 0) + (transB ? 2 : 0));
        int aRows = transA ? K : M, aCols = transA ? M : K;
        int bRows = transB ? N : K, bCols = transB ? K : N;
        int lda = aCols + pad, ldb = bCols + pad, ldc = N + pad;
        float[] a = random(rnd, off + aRows * lda + off);
        float[] b = random(rnd, off + bRows * ldb + off);
        float[] c = random(rnd, off + M * ldc + off);
        float[] expected = c.clone();
        Sgemm.sgemmReference(transA, transB, M, N, K, a, off, lda, b, off, ldb, expected, off, ldc, accumulate);
        Sgemm.sgemm(transA, transB, M, N, K, a, off, lda, b, off, ldb, c, off, ldc, accumulate);
        // Every element, the padding and the margins included: those must be left as they were.
        for (int i = 0; i < c.length; i++) {
            double ref = expected[i];
            if (Math.abs(c[i] - ref) > TOL * Math.max(1, Math.abs(ref))) {
                fail("element " + i + " (row " + (i - off) / ldc + ", col " + (i - off) % ldc + "): got "
                        + c[i] + ", expected " + ref);
            }
        }
    }

    @Test
    void overwriteIgnoresOldContentsAndAccumulateAddsToThem() {
        // 2x2 by hand, so the reference itself is checked too: [1 2; 3 4] . [5 6; 7 8].
        float[] a = {1, 2, 3, 4};
        float[] b = {5, 6, 7, 8};
        float[] c = {100, 100, 100, 100};
        Sgemm.sgemm(false, false, 2, 2, 2, a, 0, 2, b, 0, 2, c, 0, 2, false);
        assertEquals(List.of(19f, 22f, 43f, 50f), List.of(c[0], c[1], c[2], c[3]));
        Sgemm.sgemm(false, false, 2, 2, 2, a, 0, 2, b, 0, 2, c, 0, 2, true);
        assertEquals(List.of(38f, 44f, 86f, 100f), List.of(c[0], c[1], c[2], c[3]));
        float[] r = {100, 100, 100, 100};
        Sgemm.sgemmReference(true, true, 2, 2, 2, a, 0, 2, b, 0, 2, r, 0, 2, false);
        // A^T . B^T = [1 3; 2 4] . [5 7; 6 8]
        assertEquals(List.of(23f, 31f, 34f, 46f), List.of(r[0], r[1], r[2], r[3]));
    }

    @Test
    void largeGpt2ShapesMatchReferenceOnSampledEntries() {
        // A classifier-like product with a vocabulary that is not a multiple of the panel width,
        // checked on a sample of entries (the full reference would take too long).
        int M = 256, K = 384, N = 8197;
        SplittableRandom rnd = new SplittableRandom(5);
        float[] x = random(rnd, M * K);
        float[] wte = random(rnd, N * K);
        float[] logits = new float[M * N];
        Sgemm.sgemm(false, true, M, N, K, x, 0, K, wte, 0, K, logits, 0, N, false);
        for (int s = 0; s < 2000; s++) {
            int i = rnd.nextInt(M), j = s < 100 ? N - 1 - rnd.nextInt(NR_TAIL) : rnd.nextInt(N);
            double ref = 0;
            for (int k = 0; k < K; k++) {
                ref += (double) x[i * K + k] * wte[j * K + k];
            }
            assertTrue(Math.abs(logits[i * N + j] - ref) <= TOL * Math.max(1, Math.abs(ref)),
                    "logits[" + i + "," + j + "] = " + logits[i * N + j] + ", expected " + ref);
        }
    }

    private static final int NR_TAIL = 37;

    @Test
    void sharedOperandLargerThanOnePassIsSplitOverK() {
        // 4100 x 1030 floats of packed B exceed the 16 MiB shared buffer, so K runs in two
        // passes; in overwrite mode the second must add to what the first wrote.
        int M = 4105, N = 4100, K = 1030;
        SplittableRandom rnd = new SplittableRandom(9);
        float[] a = random(rnd, K * M);
        float[] b = random(rnd, K * N);
        float[] c = random(rnd, M * N);
        Sgemm.sgemm(true, false, M, N, K, a, 0, M, b, 0, N, c, 0, N, false);
        for (int s = 0; s < 2000; s++) {
            int i = rnd.nextInt(M), j = rnd.nextInt(N);
            double ref = 0;
            for (int k = 0; k < K; k++) {
                ref += (double) a[k * M + i] * b[k * N + j];
            }
            assertTrue(Math.abs(c[i * N + j] - ref) <= TOL * Math.max(1, Math.abs(ref)),
                    "c[" + i + "," + j + "] = " + c[i * N + j] + ", expected " + ref);
        }
    }

    @Test
    void chunksShareTheSplitDimensionEquallyAndFitThePackingBuffer() {
        for (boolean splitM : new boolean[] {true, false}) {
            for (int threads : new int[] {1, 2, 3, 8}) {
                for (int units = 1; units <= 700; units++) {
                    for (int kcb : new int[] {9, 342, Sgemm.KC}) {
                        int chunks = Sgemm.chunks(splitM, units, kcb, threads);
                        int maxUnits = splitM ? Sgemm.MC / Sgemm.MR : Sgemm.B_BLOCK / kcb / Sgemm.NR;
                        String at = "splitM=" + splitM + " threads=" + threads + " units=" + units + " kcb=" + kcb + ": " + chunks + " chunks";
                        assertTrue(chunks >= 1 && chunks <= units, at);
                        // chunk c is [c * units / chunks, (c + 1) * units / chunks), as sgemm cuts it
                        assertTrue((units + chunks - 1) / chunks <= maxUnits, at + " larger than the packing buffer");
                        int minUnits = splitM ? 4 : 1;
                        if (threads == 1) {
                            assertEquals((units + maxUnits - 1) / maxUnits, chunks, at);
                        } else if (units >= 2 * threads * minUnits && units <= 2 * threads * maxUnits) {
                            assertEquals(2 * threads, chunks, at);
                        }
                        if (chunks % threads != 0) {
                            assertTrue(chunks + threads - chunks % threads > units, at + " could be a multiple of the threads");
                        }
                    }
                }
            }
        }
    }

    @Test
    void rejectsArraysTooSmallForTheShape() {
        float[] a = new float[6], b = new float[6], c = new float[3];
        assertThrows(IllegalArgumentException.class,
                () -> Sgemm.sgemm(false, false, 2, 2, 3, a, 0, 3, b, 0, 2, c, 0, 2, false));
    }

    private static float[] random(SplittableRandom rnd, int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) (rnd.nextDouble() * 2 - 1);
        }
        return x;
    }
}
