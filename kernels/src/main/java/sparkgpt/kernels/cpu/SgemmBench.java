// Measures Sgemm at the GPT-2 small matmul shapes (B*T = 1024, C = 384) and prints GFLOP/s.
// Run: java --add-modules jdk.incubator.vector -cp kernels/target/classes sparkgpt.kernels.cpu.SgemmBench
package sparkgpt.kernels.cpu;

import java.util.Arrays;
import java.util.SplittableRandom;
import sparkgpt.kernels.Parallel;

public final class SgemmBench {

    /** fp32 peak of the reference machine: 2 cores x 2 FMA units x 16 lanes x 2 flops x 2.6 GHz. */
    private static final double PEAK_GFLOPS = Double.parseDouble(System.getProperty("peak", "332.8"));

    private record Shape(String name, boolean transA, boolean transB, int M, int N, int K, boolean acc) {}

    private static final Shape[] SHAPES = {
        new Shape("fwd qkv      out=inp.W", false, false, 1024, 1152, 384, false),
        new Shape("fwd attproj  out=inp.W", false, false, 1024, 384, 384, false),
        new Shape("fwd fc       out=inp.W", false, false, 1024, 1536, 384, false),
        new Shape("fwd fcproj   out=inp.W", false, false, 1024, 384, 1536, false),
        new Shape("fwd logits   x.wte^T  ", false, true, 1024, 8192, 384, false),
        new Shape("bwd qkv  dinp+=dout.W^T", false, true, 1024, 384, 1152, true),
        new Shape("bwd fcpr dinp+=dout.W^T", false, true, 1024, 1536, 384, true),
        new Shape("bwd qkv  dW+=inp^T.dout", true, false, 384, 1152, 1024, true),
        new Shape("bwd fcpr dW+=inp^T.dout", true, false, 1536, 384, 1024, true),
        new Shape("bwd cls  dx+=dl.wte    ", false, false, 1024, 384, 8192, true),
        new Shape("bwd cls  dwte+=dl^T.x  ", true, false, 8192, 384, 1024, true),
    };

    public static void main(String[] args) {
        int reps = args.length > 0 ? Integer.parseInt(args[0]) : 9;
        System.out.printf("threads=%d, vector lanes=%d, median and best of %d runs, peak %.1f GFLOP/s%n", Parallel.threads(),
                jdk.incubator.vector.FloatVector.SPECIES_PREFERRED.length(), reps, PEAK_GFLOPS);
        warmUp();
        double sumFrac = 0;
        for (Shape s : SHAPES) {
            double[] g = measure(s, reps);
            sumFrac += g[0] / PEAK_GFLOPS;
            System.out.printf("%-26s %s%s M=%5d N=%5d K=%5d  median %6.1f GFLOP/s (%4.1f%% of peak)  best %6.1f%n",
                    s.name, s.transA ? "T" : "N", s.transB ? "T" : "N", s.M, s.N, s.K, g[0],
                    100 * g[0] / PEAK_GFLOPS, g[1]);
        }
        System.out.printf("mean of medians: %.1f%% of peak%n", 100 * sumFrac / SHAPES.length);
        naive(SHAPES[0]);
    }

    /** Small calls in every transpose case, so C2 compiles the kernels before the timed runs. */
    private static void warmUp() {
        SplittableRandom rnd = new SplittableRandom(1);
        float[] a = random(rnd, 96 * 96), b = random(rnd, 96 * 96), c = new float[96 * 96];
        for (int it = 0; it < 400; it++) {
            for (int t = 0; t < 4; t++) {
                Sgemm.sgemm((t & 2) != 0, (t & 1) != 0, 96, 96, 96, a, 0, 96, b, 0, 96, c, 0, 96, it % 2 == 0);
            }
        }
    }

    /** {median, best} GFLOP/s over reps timed runs. */
    private static double[] measure(Shape s, int reps) {
        SplittableRandom rnd = new SplittableRandom(2);
        float[] a = random(rnd, s.M * s.K), b = random(rnd, s.K * s.N), c = new float[s.M * s.N];
        int lda = s.transA ? s.M : s.K, ldb = s.transB ? s.K : s.N;
        double flops = 2.0 * s.M * s.N * s.K;
        // Repeat inside one timing so each lasts ~50 ms and timer noise does not matter.
        int inner = Math.max(1, (int) (50e-3 * 100e9 / flops));
        double[] t = new double[reps];
        for (int r = -2; r < reps; r++) {
            long t0 = System.nanoTime();
            for (int i = 0; i < inner; i++) {
                Sgemm.sgemm(s.transA, s.transB, s.M, s.N, s.K, a, 0, lda, b, 0, ldb, c, 0, s.N, s.acc);
            }
            long t1 = System.nanoTime();
            if (r >= 0) {
                t[r] = (t1 - t0) * 1e-9 / inner;
            }
        }
        Arrays.sort(t);
        return new double[] {flops / t[reps / 2] * 1e-9, flops / t[0] * 1e-9};
    }

    /** The plain i-k-j loop on one thread, for scale. */
    private static void naive(Shape s) {
        SplittableRandom rnd = new SplittableRandom(3);
        float[] a = random(rnd, s.M * s.K), b = random(rnd, s.K * s.N), c = new float[s.M * s.N];
        double[] t = new double[3];
        for (int r = -1; r < t.length; r++) {
            long t0 = System.nanoTime();
            Arrays.fill(c, 0f);
            for (int i = 0; i < s.M; i++) {
                for (int k = 0; k < s.K; k++) {
                    float x = a[i * s.K + k];
                    int bo = k * s.N, co = i * s.N;
                    for (int j = 0; j < s.N; j++) {
                        c[co + j] += x * b[bo + j];
                    }
                }
            }
            if (r >= 0) {
                t[r] = (System.nanoTime() - t0) * 1e-9;
            }
        }
        Arrays.sort(t);
        double g = 2.0 * s.M * s.N * s.K / t[1] * 1e-9;
        System.out.printf("naive i-k-j, 1 thread, %s: %.1f GFLOP/s%n", s.name.trim(), g);
    }

    private static float[] random(SplittableRandom rnd, int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) (rnd.nextDouble() * 2 - 1);
        }
        return x;
    }
}
