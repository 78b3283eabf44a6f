// Single-process training-step benchmark of the model on one backend: forward + backward + AdamW.
package sparkgpt.worker;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import sparkgpt.kernels.Backend;
import sparkgpt.kernels.Backends;
import sparkgpt.kernels.FmaPeak;
import sparkgpt.kernels.OpTimer;
import sparkgpt.worker.optim.AdamW;
import sparkgpt.worker.optim.GradientClip;

/**
 * Usage: {@code ModelBench [key=value ...]} with keys n_layer, n_head, n_embd, block_size,
 * vocab_size, batch_size, steps, warmup, device, peak_gflops. Prints one line per step and a
 * summary (median step time, tokens/s, achieved GFLOP/s by nanoGPT's FLOP estimate, MFU, peak RSS,
 * and the median CPU time per step of all threads, which other jobs on a shared machine inflate less
 * than the wall time).
 */
public final class ModelBench {
    private ModelBench() {}

    public static void main(String[] args) throws Exception {
        int L = 6, NH = 6, C = 384, T = 256, V = 8192, B = 4, steps = 10, warmup = 2;
        String device = "cpu";
        boolean profile = false;
        double peakGflops = 0; // 0: this CPU's measured fp32 FMA peak (FmaPeak); a GPU: its datasheet figure
        for (String a : args) {
            String[] kv = a.replaceFirst("^--", "").split("=", 2);
            if (kv.length != 2) throw new IllegalArgumentException("expected key=value, got " + a);
            switch (kv[0]) {
                case "n_layer" -> L = Integer.parseInt(kv[1]);
                case "n_head" -> NH = Integer.parseInt(kv[1]);
                case "n_embd" -> C = Integer.parseInt(kv[1]);
                case "block_size" -> T = Integer.parseInt(kv[1]);
                case "vocab_size" -> V = Integer.parseInt(kv[1]);
                case "batch_size" -> B = Integer.parseInt(kv[1]);
                case "steps" -> steps = Integer.parseInt(kv[1]);
                case "warmup" -> warmup = Integer.parseInt(kv[1]);
                case "device" -> device = kv[1];
                case "profile" -> profile = Boolean.parseBoolean(kv[1]);
                case "peak_gflops" -> peakGflops = Double.parseDouble(kv[1]);
                default -> throw new IllegalArgumentException("unknown key " + kv[0]);
            }
        }
        String peakSource = "given";
        if (peakGflops <= 0) {
            FmaPeak.Result measured = FmaPeak.get();
            peakGflops = measured.flops() / 1e9;
            peakSource = "measured FMA peak, " + measured.threads() + " threads";
        }
        GptConfig cfg = new GptConfig(L, NH, C, T, V);
        OpTimer timer = new OpTimer();
        Backend backend = profile ? timer.wrap(Backends.open(device)) : Backends.open(device);
        try (Gpt model = new Gpt(cfg, B, backend)) {
            model.initialize(1337);
            AdamW opt = new AdamW(model.params, new AdamW.Options(0.9f, 0.95f, 1e-8f, 0.1f));
            long params = model.params.size();
            double flopsPerToken = model.params.flopsPerToken(); // nanoGPT's MFU estimate
            System.out.printf("config: n_layer=%d n_head=%d n_embd=%d block_size=%d vocab_size=%d batch_size=%d%n",
                    L, NH, C, T, V, B);
            System.out.printf("backend: %s; parameters: %,d; activations: %,d floats, their gradients %,d (%,d MiB)%n",
                    model.device(), params, model.acts.size(), model.acts.grads.size(), model.acts.bytes() >> 20);
            Random r = new Random(42);
            int[] tokens = new int[B * T + 1];
            double[] ms = new double[steps];
            // CPU time of the whole process per step: on a shared machine the wall time also
            // counts the time other processes held the cores, the CPU time counts only this work
            double[] cpuMs = new double[steps];
            long optNanos = 0;
            for (int s = -warmup; s < steps; s++) {
                if (s == 0) timer.reset();
                for (int i = 0; i < tokens.length; i++) tokens[i] = r.nextInt(V);
                int[] in = Arrays.copyOf(tokens, B * T), tgt = Arrays.copyOfRange(tokens, 1, B * T + 1);
                long t0 = System.nanoTime();
                long c0 = processCpuNanos();
                model.zeroGrad();
                float loss = model.forward(in, tgt, 0);
                model.backward();
                float[] g = model.gradients();
                long t1 = System.nanoTime();
                double norm = GradientClip.clip(g, 1.0);
                opt.update(model.parameters(), g, 3e-4f);
                if (s >= 0) optNanos += System.nanoTime() - t1;
                model.paramsChanged();
                double dt = (System.nanoTime() - t0) / 1e6;
                if (s >= 0) {
                    ms[s] = dt;
                    cpuMs[s] = (processCpuNanos() - c0) / 1e6;
                }
                System.out.printf("step %d%s: loss %.4f, norm %.3f, %.1f ms%n", s, s < 0 ? " (warmup)" : "", loss, norm, dt);
            }
            if (profile) {
                System.out.printf("time per op over %d steps (plus clip+AdamW %.1f ms):%n%s", steps, optNanos / 1e6,
                        timer.report());
            }
            double[] sorted = ms.clone();
            Arrays.sort(sorted);
            double median = sorted[steps / 2];
            double[] cpuSorted = cpuMs.clone();
            Arrays.sort(cpuSorted);
            double tokPerS = B * T / (median / 1e3);
            double gflops = flopsPerToken * tokPerS / 1e9;
            System.out.printf("median step %.1f ms (min %.1f, max %.1f), %.0f tokens/s, %.1f GFLOP/s, mfu %.1f%% of %.1f GFLOP/s (%s), peak RSS %s, cpu %.1f ms per step (median, all threads)%n",
                    median, sorted[0], sorted[steps - 1], tokPerS, gflops, 100 * gflops / peakGflops, peakGflops, peakSource,
                    peakRss(), cpuSorted[steps / 2]);
        }
    }

    /** CPU time of this process, all threads, in nanoseconds (-1 where the JVM does not report it). */
    static long processCpuNanos() {
        java.lang.management.OperatingSystemMXBean os = java.lang.management.ManagementFactory.getOperatingSystemMXBean();
        return os instanceof com.sun.management.OperatingSystemMXBean sun ? sun.getProcessCpuTime() : -1;
    }

    /** The process's peak resident set (VmHWM), or "n/a" off Linux. */
    static String peakRss() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("VmHWM:")) {
                    long kb = Long.parseLong(line.replaceAll("[^0-9]", ""));
                    return String.format("%.0f MiB", kb / 1024.0);
                }
            }
        } catch (Exception ignored) {
            // not Linux
        }
        return "n/a";
    }
}
