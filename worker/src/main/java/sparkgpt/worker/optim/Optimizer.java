// The seam between the training loop and the update rule (MLlib's Updater, BigDL's OptimMethod): the loop
// hands over the summed, clipped gradient; checkpoints save and restore the state by name.
package sparkgpt.worker.optim;

import java.util.Map;
import java.util.function.LongConsumer;

/**
 * An update rule over the flat parameter buffer. Its state is a set of named tensors, each a flat buffer
 * in the parameter layout (AdamW: {@code exp_avg}, {@code exp_avg_sq}), plus the count of updates taken;
 * a checkpoint stores tensor NAME's slice for parameter P as {@code NAME.P} without knowing the names.
 */
public interface Optimizer {
    /** The rule's name, recorded in checkpoints ("adamw"). */
    String name();

    /** One update of params by grads at learning rate lr; counts one step. */
    void update(float[] params, float[] grads, float lr);

    /**
     * {@link #update}, telling written the end of each prefix of params it has finished (ascending, the last one
     * params.length): the weights written so far can go out while the rest is still being updated.
     */
    default void update(float[] params, float[] grads, float lr, LongConsumer written) {
        update(params, grads, lr);
        written.accept(params.length);
    }

    /** Updates taken so far (torch's state['step']). */
    int step();

    /** The state tensors by name, in a fixed order: the optimizer's own buffers, not copies. */
    Map<String, float[]> state();

    /**
     * Takes over saved state: every tensor {@link #state} names, each of the parameter count, and the step count
     * (a resumed run goes on exactly where the saved one stopped).
     */
    void restore(Map<String, float[]> state, int step);
}
