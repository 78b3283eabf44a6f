// aggregation = sliced: block k of every partition's gradient goes to reducer k mod R and is summed
// there by GradientSum's buddy rule, so no single task receives the whole model's gradients.
package sparkgpt.driver.step;

import java.util.List;
import org.apache.spark.api.java.JavaRDD;
import scala.Tuple2;
import sparkgpt.driver.data.TokenWindows;

final class SlicedAggregation implements Aggregation {
    private final int blockFloats, blocks, reducers;
    private final float[] flat;

    SlicedAggregation(int blockFloats, int blocks, int reducers, float[] flat) {
        this.blockFloats = blockFloats;
        this.blocks = blocks;
        this.reducers = reducers;
        this.flat = flat;
    }

    @Override
    public Pending submit(JavaRDD<TokenWindows> windows, GradientStep step) {
        Sum sum = sliced(windows, step);
        return () -> sum;
    }

    private Sum sliced(JavaRDD<TokenWindows> windows, GradientStep step) {
        List<Tuple2<Integer, GradientSum>> summed = windows.mapPartitionsWithIndex(step, false)
                .flatMapToPair(GradientSum::ofBlocks)
                .reduceByKey(new GradientSum.BlockPartitioner(reducers), GradientSum::merge).collect();
        GradientSum first = null; // block 0 carries the losses and timings
        float[] grads = flat;
        for (Tuple2<Integer, GradientSum> b : summed) {
            float[] g = b._2().gradients()[0];
            if (blocks == 1) grads = g;
            else System.arraycopy(g, 0, grads, (int) WeightBlocks.offset(b._1(), blockFloats), g.length);
            if (b._1() == 0) first = b._2();
        }
        return new Sum(grads, first);
    }

    @Override
    public String describe() {
        return "sliced over " + reducers + " reducers";
    }
}
