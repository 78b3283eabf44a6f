// How weights and gradients travel between the driver and the executors.
package sparkgpt.driver.config;

import java.io.Serializable;
import java.util.List;

public record TransferConfig(double transferBlockMb, String aggregation, String gradDtype, String weightDtype)
        implements Serializable {
    /** One block's default size in MiB: far below the 2 GB limits of a Java array or a Kryo buffer. */
    public static final double DEFAULT_BLOCK_MB = 64;

    public static final Key<Double> TRANSFER_BLOCK_MB = Key.real("transfer_block_mb", DEFAULT_BLOCK_MB,
            "weights and gradients travel in blocks of this many MiB: far below the 2 GB limits of Java arrays and"
                    + " Kryo buffers, large enough that per-block costs vanish")
            .check(x -> x > 0 && x <= 1024, "a size in MiB in (0, 1024] (one block must stay under 2 GB)");
    public static final Key<String> AGGREGATION = Key.choice("aggregation", "auto",
            "the gradient sum: tree (each task's result, or treeAggregate past 6 partitions), stream (executors put"
                    + " each layer's gradient in their block managers as the backward pass ends it, and the driver sums"
                    + " them meanwhile) or sliced (reduceByKey over blocks, which beat treeAggregate 1.4-2.5x from 1 GB"
                    + " of gradient); auto: sliced from 1 GB, else stream on a cluster (up to 6 partitions, fp32"
                    + " gradients), else tree", "auto", "tree", "stream", "sliced");
    public static final Key<String> GRAD_DTYPE = Key.choice("grad_dtype", "fp32",
            "bf16 ships gradients at 16 bits (half the bytes), summed in fp32", "fp32", "bf16");
    public static final Key<String> WEIGHT_DTYPE = Key.choice("weight_dtype", "fp32",
            "bf16 broadcasts weights at 16 bits, expanded to fp32 on the executors; the driver keeps fp32 master"
                    + " weights and optimizer state (FSDP's param_dtype)", "fp32", "bf16");
    public static final List<Key<?>> KEYS = List.of(TRANSFER_BLOCK_MB, AGGREGATION, GRAD_DTYPE, WEIGHT_DTYPE);

    public static TransferConfig from(Settings s) {
        return new TransferConfig(s.get(TRANSFER_BLOCK_MB), s.get(AGGREGATION), s.get(GRAD_DTYPE), s.get(WEIGHT_DTYPE));
    }

    /** Floats per weight / gradient block. */
    public int blockFloats() {
        return blockFloats(transferBlockMb);
    }

    /** Floats per block for megabytes MiB, at least one. */
    public static int blockFloats(double megabytes) {
        return (int) Math.max(1, Math.min(Integer.MAX_VALUE - 8, Math.floor(megabytes * (1 << 20) / 4)));
    }

    /**
     * tree, stream or sliced for a model of size floats over partitions partitions, in local mode (local: the
     * executor is the driver's JVM, which takes the gradient by hand) or not. auto: sliced from 1 GB of fp32
     * gradient; else stream off local mode with fp32 gradients over up to 6 partitions (the ones whose step is one
     * job); else tree.
     */
    public String aggregationFor(long size, boolean local, int partitions) {
        boolean streams = !local && gradDtype.equals("fp32") && partitions <= DRIVER_FAN_IN;
        if (aggregation.equals("stream") && !streams) {
            List<String> why = new java.util.ArrayList<>();
            if (local) why.add("local mode");
            if (!gradDtype.equals("fp32")) why.add("grad_dtype = " + gradDtype);
            if (partitions > DRIVER_FAN_IN) why.add(partitions + " partitions");
            throw new UserError("aggregation = stream: expected a cluster (executors in JVMs of their own), grad_dtype"
                    + " = fp32 and at most " + DRIVER_FAN_IN + " partitions, got " + String.join(", ", why)
                    + ": use tree or auto");
        }
        if (!aggregation.equals("auto")) return aggregation;
        if (4 * size >= (1L << 30)) return "sliced";
        return streams ? "stream" : "tree";
    }

    /**
     * Up to this many partitions a step is one job whose partials the driver adds itself (TreeAggregation); past it,
     * treeAggregate adds a level on the executors. Stream needs the one job: it sums on the driver.
     */
    public static final int DRIVER_FAN_IN = 6;
}
