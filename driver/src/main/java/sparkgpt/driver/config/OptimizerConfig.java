// The update rule and its hyperparameters, gradient clipping and the guard against non-finite steps.
package sparkgpt.driver.config;

import java.io.Serializable;
import java.util.List;
import sparkgpt.worker.ParameterLayout;
import sparkgpt.worker.optim.AdamW;
import sparkgpt.worker.optim.Optimizer;

public record OptimizerConfig(String optimizer, double weightDecay, double beta1, double beta2, double gradClip, int maxBadSteps)
        implements Serializable {
    public static final Key<String> OPTIMIZER = Key.choice("optimizer", "adamw",
            "the update rule (sparkgpt.worker.optim): adamw is torch.optim.AdamW over the flat parameters", "adamw");
    public static final Key<Double> WEIGHT_DECAY = Key.real("weight_decay", 0.1,
            "AdamW's decoupled weight decay, on 2-D weights only (nanoGPT, GPT-3)")
            .check(x -> x >= 0, "a number >= 0");
    public static final Key<Double> BETA1 = Key.real("beta1", 0.9, "AdamW's first-moment decay (nanoGPT, GPT-3)")
            .check(x -> x >= 0 && x < 1, "a number in [0, 1)");
    public static final Key<Double> BETA2 = Key.real("beta2", 0.95,
            "AdamW's second-moment decay (nanoGPT, GPT-3; 0.99 for tiny batches)")
            .check(x -> x >= 0 && x < 1, "a number in [0, 1)");
    public static final Key<Double> GRAD_CLIP = Key.real("grad_clip", 1.0, "global-norm gradient clipping; 0 disables")
            .check(x -> x >= 0, "0 (off) or a positive norm");
    public static final Key<Integer> MAX_BAD_STEPS = Key.integer("max_bad_steps", 3,
            "steps in a row with a NaN/Inf loss or gradient (each skipped) before the run stops")
            .check(Key.atLeast(1), "a positive integer");
    public static final List<Key<?>> KEYS = List.of(OPTIMIZER, WEIGHT_DECAY, BETA1, BETA2, GRAD_CLIP, MAX_BAD_STEPS);

    public static OptimizerConfig from(Settings s) {
        return new OptimizerConfig(s.get(OPTIMIZER), s.get(WEIGHT_DECAY), s.get(BETA1), s.get(BETA2), s.get(GRAD_CLIP), s.get(MAX_BAD_STEPS));
    }

    /** The optimizer over a model of this layout, with no state yet. */
    public Optimizer create(ParameterLayout layout) {
        return switch (optimizer) {
            case "adamw" -> new AdamW(layout, new AdamW.Options((float) beta1, (float) beta2, 1e-8f, (float) weightDecay));
            default -> throw new IllegalStateException("optimizer " + optimizer);
        };
    }
}
