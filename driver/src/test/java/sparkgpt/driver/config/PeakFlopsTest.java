// peak_flops: 0 (the default) measures this CPU's FMA peak and says so, or on OpenCL takes the GPU's datasheet
// figure by its reported name (unknown GPUs: MFU unknown, never an error); a given figure is named as given;
// values no processor has and a figure in GFLOP/s fail naming the key.
package sparkgpt.driver.config;

import static org.junit.jupiter.api.Assertions.*;

import java.util.List;
import org.junit.jupiter.api.Test;

class PeakFlopsTest {

    private static TrainConfig config(String... args) {
        return TrainConfig.from(Settings.parse(List.of(args)));
    }

    private static String error(String... args) {
        return assertThrows(UserError.class, () -> config(args)).getMessage();
    }

    @Test
    void theDefaultMeasuresThisCpu() {
        ClusterConfig.Peak p = config().cluster().peak();
        assertTrue(Double.isFinite(p.flops()) && p.flops() > 0, String.valueOf(p.flops()));
        assertTrue(p.source().startsWith("the measured FMA peak of ") && p.source().contains("GFLOP/s")
                && p.source().contains(" threads, ") && p.source().contains(" fp32 lanes)"), p.source());
        assertFalse(p.source().contains("driver's CPU"), "local mode measures the executors' CPU: " + p.source());
        ClusterConfig.Peak cluster = config("--master=spark://127.0.0.1:7077").cluster().peak();
        assertTrue(cluster.source().contains("the driver's CPU") && cluster.source().contains("--peak_flops"), cluster.source());
    }

    @Test
    void aGivenPeakIsNamedAsGiven() {
        ClusterConfig.Peak p = config("--peak_flops=67e12", "--device=opencl").cluster().peak();
        assertEquals(67e12, p.flops());
        assertEquals("peak_flops = 6.700e+13 (given)", p.source());
    }

    @Test
    void wrongPeaksFailNamingTheKey() {
        String m = error("--peak_flops=-1");
        assertTrue(m.startsWith("peak_flops = -1 (from command line): expected 0 (measure"), m);
        m = error("--peak_flops=NaN");
        assertTrue(m.startsWith("peak_flops = NaN"), m);
        m = error("--peak_flops=332.8");
        assertTrue(m.startsWith("peak_flops = 332.8") && m.contains("not GFLOP/s") && m.contains("332.8e9"), m);
        m = error("--peak_flops=fast");
        assertTrue(m.startsWith("peak_flops = fast"), m);
    }

    /** The device string is what OpenClBackend.device() reports; the table is GpuPeaks'. */
    @Test
    void onOpenClThePeakComesFromTheGpuTableByTheReportedName() {
        ClusterConfig c = config("--device=opencl").cluster(); // no datasheet figure needed
        ClusterConfig.Peak h100 = c.peak("opencl: NVIDIA H100 80GB HBM3 (NVIDIA Corporation, GPU, 132 compute units,"
                + " 48 KB local memory, device buffers)");
        assertEquals(67e12, h100.flops());
        assertTrue(h100.source().startsWith("NVIDIA H100 80GB HBM3's fp32 peak of 67.0 TFLOP/s (NVIDIA H100 SXM datasheet"),
                h100.source());
        ClusterConfig.Peak pocl = c.peak("opencl: cpu-sapphirerapids-Intel(R) Xeon(R) Platinum (The pocl project, CPU, 2"
                + " compute units, 512 KB local memory, shared host memory)");
        assertTrue(Double.isNaN(pocl.flops()), pocl.toString());
        assertTrue(pocl.source().contains("not in the table of GPU peaks") && pocl.source().contains("--peak_flops"),
                pocl.source());
        assertEquals(1e12, config("--device=opencl", "--peak_flops=1e12").cluster().peak("opencl: NVIDIA H100 (x)").flops());
        assertTrue(c.peak("cpu: 2 threads, 16 float lanes (512-bit vectors)").source().startsWith("the measured FMA peak"));
    }
}
