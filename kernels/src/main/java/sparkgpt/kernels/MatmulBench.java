// Matmul GFLOP/s of each backend at the shapes of a GPT-2 layer, through the Backend interface.
package sparkgpt.kernels;

import java.util.Arrays;
import java.util.List;
import java.util.Random;

/**
 * Usage: {@code MatmulBench [devices=cpu,opencl] [N=1024] [C=384] [V=8192] [reps=5] [peak=332.8]}.
 * For each backend and shape: forward (out = inp . W + b) and backward (dinp, dW, db), median of
 * reps after one warm-up, as GFLOP/s and a fraction of the stated peak.
 */
public final class MatmulBench {
    private MatmulBench() {}

    public static void main(String[] args) {
        String devices = "cpu,opencl";
        int N = 1024, C = 384, V = 8192, reps = 5;
        double peak = 332.8; // GFLOP/s: 2 cores x 2 FMA units x 16 lanes x 2 flops x 2.6 GHz
        for (String a : args) {
            String[] kv = a.replaceFirst("^--", "").split("=", 2);
            switch (kv[0]) {
                case "devices" -> devices = kv[1];
                case "N" -> N = Integer.parseInt(kv[1]);
                case "C" -> C = Integer.parseInt(kv[1]);
                case "V" -> V = Integer.parseInt(kv[1]);
                case "reps" -> reps = Integer.parseInt(kv[1]);
                case "peak" -> peak = Double.parseDouble(kv[1]);
                default -> throw new IllegalArgumentException("unknown key " + kv[0]);
            }
        }
        // {name, C_in, OC, transposed}
        List<Object[]> shapes = List.of(
                new Object[] {"qkv", C, 3 * C, false}, new Object[] {"attproj", C, C, false},
                new Object[] {"fc", C, 4 * C, false}, new Object[] {"fcproj", 4 * C, C, false},
                new Object[] {"classifier", C, V, true});
        System.out.printf("%-8s %-11s %6s %6s %6s %10s %10s %10s %10s%n", "backend", "shape", "N", "C", "OC",
                "fwd ms", "fwd GF/s", "bwd ms", "bwd GF/s");
        for (String device : devices.split(",")) {
            for (Object[] s : shapes) {
                int Cin = (Integer) s[1], OC = (Integer) s[2];
                boolean tr = (Boolean) s[3];
                run(device, (String) s[0], N, Cin, OC, tr, reps, peak);
            }
        }
    }

    private static void run(String device, String name, int N, int C, int OC, boolean tr, int reps, double peak) {
        Random r = new Random(1);
        float[] params = new float[C * OC + OC], grads = new float[C * OC + OC];
        float[] acts = new float[N * C + N * OC], dacts = new float[N * C + N * OC];
        for (float[] a : List.of(params, acts, dacts)) for (int i = 0; i < a.length; i++) a[i] = (float) r.nextGaussian();
        try (Backend b = Backends.open(device)) {
            b.bind(params, grads, acts, dacts, new float[1], new int[1], new int[1]);
            b.uploadParams();
            b.uploadActs();
            b.uploadGradActs();
            int bias = tr ? -1 : C * OC;
            double[] fwd = new double[reps], bwd = new double[reps];
            for (int k = -1; k < reps; k++) {
                long t0 = System.nanoTime();
                b.matmulForward(N * C, 0, 0, bias, N, C, OC, tr);
                b.downloadLosses(); // a transfer waits for the queue on device backends
                long t1 = System.nanoTime();
                b.matmulBackward(0, 0, bias, N * C, 0, 0, N, C, OC, tr);
                b.downloadGrads();
                long t2 = System.nanoTime();
                if (k >= 0) {
                    fwd[k] = (t1 - t0) / 1e6;
                    bwd[k] = (t2 - t1) / 1e6;
                }
            }
            double f = median(fwd), bw = median(bwd);
            double flops = 2.0 * N * C * OC;
            System.out.printf("%-8s %-11s %6d %6d %6d %10.2f %10.1f %10.2f %10.1f   (%.0f%% / %.0f%% of %.1f)%n",
                    device, name, N, C, OC, f, flops / f / 1e6, bw, 2 * flops / bw / 1e6,
                    100 * flops / f / 1e6 / peak, 100 * 2 * flops / bw / 1e6 / peak, peak);
        }
    }

    private static double median(double[] x) {
        double[] s = x.clone();
        Arrays.sort(s);
        return s[s.length / 2];
    }
}
