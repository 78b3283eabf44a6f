// The GPU Spark assigned to the running task (spark.task.resource.gpu.amount), as an OpenCL device index.
package sparkgpt.driver.step;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.apache.spark.TaskContext;
import org.apache.spark.resource.ResourceInformation;
import sparkgpt.driver.config.UserError;

/**
 * Spark's GPU scheduling hands each task the addresses the discovery script reported (for
 * deploy/gpu-discovery: nvidia-smi indices, or OpenCL GPU numbers), and the task must use that GPU,
 * not the first one it sees. The addresses index the node's GPUs; OpenClBackend.devices() lists
 * GPUs first, in the platform's order, so address i is OpenCL device i. Where a container exposes
 * only its own GPUs (YARN or Kubernetes isolation, CUDA_VISIBLE_DEVICES) the node-wide index can
 * exceed what the JVM sees: then the task's k-th address is the k-th visible GPU.
 */
public final class TaskGpu {
    private TaskGpu() {}

    /** The task's "gpu" addresses; empty on the driver, in local mode, or without GPU scheduling. */
    public static List<String> addresses() {
        TaskContext task = TaskContext.get();
        if (task == null) return List.of();
        ResourceInformation gpu = task.resourcesJMap().get("gpu");
        return gpu == null ? List.of() : Arrays.asList(gpu.addresses());
    }

    /**
     * The OpenCL device index for the first of the task's addresses, given how many OpenCL GPUs
     * this JVM sees; -1 when the task has no GPU (then the backend picks as usual).
     *
     * @throws UserError when an address is not a number or names a GPU the JVM cannot see
     */
    public static int openClIndex(List<String> addresses, int visibleGpus) {
        if (addresses.isEmpty()) return -1;
        List<Integer> indices = new ArrayList<>();
        for (String a : addresses) {
            try {
                indices.add(Integer.parseInt(a.trim()));
            } catch (NumberFormatException e) {
                throw new UserError("the task's GPU address '" + a + "' is not a number: the GPU discovery script"
                        + " (spark.executor.resource.gpu.discoveryScript) must report device indices, as deploy/gpu-discovery does");
            }
        }
        int first = indices.get(0);
        if (first < visibleGpus) return first;
        // isolated container: it sees just the GPUs assigned to it, renumbered from 0
        List<Integer> sorted = new ArrayList<>(indices);
        sorted.sort(null);
        if (visibleGpus > 0 && indices.size() <= visibleGpus) return sorted.indexOf(first);
        throw new UserError("Spark assigned GPU " + addresses + " to this task but the executor sees " + visibleGpus
                + " OpenCL GPU(s): check the discovery script and the OpenCL driver (clinfo -l) on that node");
    }
}
