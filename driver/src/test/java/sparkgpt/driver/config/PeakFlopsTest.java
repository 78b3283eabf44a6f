// peak_flops: 0 (the default) measures this CPU's FMA peak and says so; a given figure is named as given;
// values no processor has, a figure in GFLOP/s and an OpenCL device without a datasheet figure fail naming the key.
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
        m = error("--device=opencl");
        assertTrue(m.startsWith("peak_flops = 0 (measure)") && m.contains("datasheet"), m);
    }
}
