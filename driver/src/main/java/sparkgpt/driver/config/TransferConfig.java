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
            "the gradient sum: tree (treeAggregate) or sliced (reduceByKey over blocks, which beat treeAggregate"
                    + " 1.4-2.5x from 1 GB of gradient); auto picks by that size", "auto", "tree", "sliced");
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

    /** tree or sliced for a model of size floats: auto picks sliced from 1 GB of fp32 gradient. */
    public String aggregationFor(long size) {
        if (!aggregation.equals("auto")) return aggregation;
        return 4 * size >= (1L << 30) ? "sliced" : "tree";
    }
}
