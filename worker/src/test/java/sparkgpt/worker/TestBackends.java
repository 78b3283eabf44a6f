// The backends the model tests run on: cpu always; opencl when an OpenCL device is present, and
// always under CI=true, where a missing device must fail the run rather than skip it.
package sparkgpt.worker;

import java.util.ArrayList;
import java.util.List;
import sparkgpt.kernels.Backend;
import sparkgpt.kernels.Backends;
import sparkgpt.kernels.opencl.OpenClBackend;

final class TestBackends {
    private TestBackends() {}

    static List<String> names() {
        List<String> names = new ArrayList<>(List.of("cpu"));
        if ("true".equalsIgnoreCase(System.getenv("CI")) || !OpenClBackend.devices().isEmpty()) {
            names.add("opencl");
        }
        return names;
    }

    static Backend open(String name) {
        return Backends.open(name);
    }
}
