// device=auto loads OpenCL only where a GPU platform may be installed: PoCL alone is a CPU device,
// and loading it leaves its worker threads running until the process exits.
package sparkgpt.kernels;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class BackendsTest {

    @Test
    void autoSkipsOpenClWhenPoclIsTheOnlyPlatform(@TempDir Path vendors) throws Exception {
        assertTrue(Backends.onlyPoclInstalled(Map.of(), vendors).startsWith("no OpenCL platform installed"));
        Files.writeString(vendors.resolve("pocl.icd"), "libpocl.so.2.10.0\n");
        String reason = Backends.onlyPoclInstalled(Map.of(), vendors);
        assertNotNull(reason);
        assertTrue(reason.contains("libpocl.so.2.10.0") && reason.contains("OpenCL not loaded"), reason);
        Files.writeString(vendors.resolve("nvidia.icd"), "libnvidia-opencl.so.1\n");
        assertNull(Backends.onlyPoclInstalled(Map.of(), vendors), "a GPU platform: OpenCL is probed");
        // the ICD loader's own variables come first
        assertNull(Backends.onlyPoclInstalled(Map.of("OCL_ICD_FILENAMES", "/opt/amd/libamdocl64.so"), vendors));
        assertNotNull(Backends.onlyPoclInstalled(Map.of("OCL_ICD_FILENAMES", "/usr/lib/libpocl.so"), vendors));
        assertNull(Backends.onlyPoclInstalled(Map.of("OCL_ICD_VENDORS", vendors.toString()), Path.of("/nonexistent")));
    }
}
