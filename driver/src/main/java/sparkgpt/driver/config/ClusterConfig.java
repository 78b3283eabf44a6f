// Where the work runs: the Spark master, the executors' kernels and their peak, the memory check.
package sparkgpt.driver.config;

import java.io.Serializable;
import java.util.List;
import java.util.Locale;
import sparkgpt.kernels.FmaPeak;
import sparkgpt.kernels.opencl.GpuPeaks;
import sparkgpt.kernels.opencl.OpenClBackend;

public record ClusterConfig(String device, String master, double peakFlops, boolean checkMemory) implements Serializable {
    public static final Key<String> DEVICE = Key.choice("device", "auto",
            "the executors' kernels: auto picks OpenCL when a GPU is there, else the cpu backend", "auto", "opencl", "cpu");
    public static final Key<String> MASTER = master(
            "Spark's master: local[*] (embedded, all cores), local[N], spark://host:7077, yarn, k8s://...");
    public static final Key<Double> PEAK_FLOPS = Key.real("peak_flops", 0,
            "MFU's denominator in FLOP/s; 0: on the cpu backend this CPU's fp32 FMA peak, measured (0.3-1 s); on"
                    + " OpenCL the GPU's datasheet fp32 peak by the name the executors report (a table of common"
                    + " GPUs), else MFU is unknown")
            .check(x -> x == 0 || x >= 1e6, "0 (measure this CPU's fp32 FMA peak) or a FLOP/s figure such as 332.8e9"
                    + " (not GFLOP/s or TFLOP/s)");
    public static final Key<Boolean> CHECK_MEMORY = Key.bool("check_memory", true,
            "compare what an executor needs (docs/scaling.md's estimate) with what Spark granted before the first"
                    + " step; false: trust the settings");
    public static final List<Key<?>> KEYS = List.of(DEVICE, MASTER, PEAK_FLOPS, CHECK_MEMORY);

    /** The master key of every command that starts Spark. */
    public static Key<String> master(String meaning) {
        return Key.string("master", ClusterConfig::defaultMaster, "local[*]", meaning)
                .check(ClusterConfig::knownMaster, "local, local[N], local[*], local-cluster[N,C,MB], spark://HOST:PORT,"
                        + " yarn or k8s://URL");
    }

    public static ClusterConfig from(Settings s) {
        return new ClusterConfig(s.get(DEVICE), s.get(MASTER), s.get(PEAK_FLOPS), s.get(CHECK_MEMORY));
    }

    /**
     * The master when none is given: spark-submit's (it sets spark.master for the driver it starts: YARN,
     * standalone, local), else Spark embedded in this JVM on every core.
     */
    public static String defaultMaster() {
        return System.getProperty("spark.master", "local[*]");
    }

    static boolean knownMaster(String m) {
        return m.matches("local(\\[(\\*|\\d+)(, *\\d+)?])?") || m.matches("local-cluster\\[\\d+, *\\d+, *\\d+]")
                || m.matches("spark://.+") || m.equals("yarn") || m.matches("k8s://.+");
    }

    /** MFU's denominator in FLOP/s (NaN: unknown) and how reports name it. */
    public record Peak(double flops, String source) {}

    /** The peak of the cpu backend: {@link #peak(String)} for a cpu device. */
    public Peak peak() {
        return peak("cpu");
    }

    /**
     * MFU's denominator for kernels that ran on device (Backend.device(), as the executors report it):
     * peak_flops as given; else on OpenCL the GPU's datasheet fp32 peak from {@link GpuPeaks} by its name,
     * unknown (NaN) for a device not in the table; else the fp32 FMA peak of this JVM's CPU, measured once
     * ({@link FmaPeak}), which with a cluster is the driver's CPU.
     */
    public Peak peak(String device) {
        if (peakFlops > 0) return new Peak(peakFlops, String.format(Locale.ROOT, "peak_flops = %.4g (given)", peakFlops));
        String name = OpenClBackend.deviceName(device);
        if (name != null) {
            return GpuPeaks.lookup(name)
                    .map(e -> new Peak(e.flops(), String.format(Locale.ROOT, "%s's fp32 peak of %.1f TFLOP/s (%s)", name,
                            e.flops() / 1e12, e.source())))
                    .orElse(new Peak(Double.NaN, "an unknown peak: " + name + " is not in the table of GPU peaks"
                            + " (sparkgpt.kernels.opencl.GpuPeaks); give --peak_flops for an MFU"));
        }
        FmaPeak.Result measured = FmaPeak.get();
        return new Peak(measured.flops(), measured.describe() + (master.startsWith("local")
                ? "" : " of the driver's CPU; the executors' may differ: give --peak_flops"));
    }
}
