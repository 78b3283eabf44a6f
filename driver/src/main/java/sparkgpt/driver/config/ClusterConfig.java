// Where the work runs: the Spark master, the executors' kernels and their peak, the memory check.
package sparkgpt.driver.config;

import java.io.Serializable;
import java.util.List;
import java.util.Locale;
import sparkgpt.kernels.FmaPeak;

public record ClusterConfig(String device, String master, double peakFlops, boolean checkMemory) implements Serializable {
    public static final Key<String> DEVICE = Key.choice("device", "auto",
            "the executors' kernels: auto picks OpenCL when a GPU is there, else the cpu backend", "auto", "opencl", "cpu");
    public static final Key<String> MASTER = master(
            "Spark's master: local[*] (embedded, all cores), local[N], spark://host:7077, yarn, k8s://...");
    public static final Key<Double> PEAK_FLOPS = Key.real("peak_flops", 0,
            "MFU's denominator in FLOP/s; 0: this CPU's fp32 FMA peak, measured at start (0.3-1 s); a GPU: its"
                    + " datasheet figure (H200 fp32: 67e12)")
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
        ClusterConfig c = new ClusterConfig(s.get(DEVICE), s.get(MASTER), s.get(PEAK_FLOPS), s.get(CHECK_MEMORY));
        if (c.peakFlops == 0 && c.device.equals("opencl")) {
            throw s.bad("peak_flops", "0 (measure)", "the OpenCL device's peak from its datasheet, e.g. --peak_flops=67e12"
                    + " for an H200's fp32: only a CPU's FMA peak is measured");
        }
        return c;
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

    /** MFU's denominator in FLOP/s and how reports name it. */
    public record Peak(double flops, String source) {}

    /**
     * peak_flops as given, or (0) the fp32 FMA peak of this JVM's CPU, measured once ({@link FmaPeak}). With a
     * cluster that is the driver's CPU: the executors' hardware needs peak_flops given.
     */
    public Peak peak() {
        if (peakFlops > 0) return new Peak(peakFlops, String.format(Locale.ROOT, "peak_flops = %.4g (given)", peakFlops));
        FmaPeak.Result measured = FmaPeak.get();
        return new Peak(measured.flops(), measured.describe() + (master.startsWith("local")
                ? "" : " of the driver's CPU; the executors' may differ: give --peak_flops"));
    }
}
