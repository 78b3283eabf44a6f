// How long a run is and its learning rate at each step: nanoGPT's linear warmup and cosine decay.
package sparkgpt.driver.config;

import java.io.Serializable;
import java.util.List;

public record ScheduleConfig(int maxSteps, double learningRate, double minLr, int warmupSteps, int lrDecaySteps)
        implements Serializable {
    public static final Key<Integer> MAX_STEPS = Key.integer("max_steps", 200,
            "optimizer steps in all (a resumed run counts those before it)")
            .check(Key.atLeast(1), "a positive integer");
    public static final Key<Double> LEARNING_RATE = Key.real("learning_rate", 1e-3,
            "the peak learning rate, reached after warmup; small models take a high one (nanoGPT's shakespeare_char: 1e-3)")
            .check(x -> x > 0, "a positive number");
    public static final Key<Double> MIN_LR = Key.real("min_lr", 1e-4,
            "the learning rate at the end of the cosine decay: learning_rate / 10, per Chinchilla (nanoGPT)")
            .check(x -> x >= 0, "a number in [0, learning_rate]");
    public static final Key<Integer> WARMUP_STEPS = Key.integer("warmup_steps", 20, "steps of linear warmup from ~0")
            .check(Key.atLeast(0), "a step count >= 0");
    public static final Key<Integer> LR_DECAY_STEPS = Key.integer("lr_decay_steps", 0,
            "the step where the cosine decay ends; 0: max_steps (nanoGPT's lr_decay_iters)")
            .check(Key.atLeast(0), "0 (max_steps) or a step count");
    public static final List<Key<?>> KEYS = List.of(MAX_STEPS, LEARNING_RATE, MIN_LR, WARMUP_STEPS, LR_DECAY_STEPS);

    public static ScheduleConfig from(Settings s) {
        ScheduleConfig c = new ScheduleConfig(s.get(MAX_STEPS), s.get(LEARNING_RATE), s.get(MIN_LR), s.get(WARMUP_STEPS),
                s.get(LR_DECAY_STEPS));
        if (c.minLr > c.learningRate) throw s.bad("min_lr", c.minLr, "a number in [0, learning_rate = " + c.learningRate + "]");
        return c;
    }

    /**
     * nanoGPT's get_lr: linear warmup to learning_rate over warmup_steps, cosine decay to min_lr at
     * lr_decay_steps (0: max_steps), min_lr after. step counts from 0. A pure function of the step,
     * so a resumed run continues the same schedule.
     */
    public double learningRate(int step) {
        int decayEnd = lrDecaySteps > 0 ? lrDecaySteps : maxSteps;
        if (step < warmupSteps) return learningRate * (step + 1) / (warmupSteps + 1);
        if (step >= decayEnd) return minLr;
        double ratio = (double) (step - warmupSteps) / Math.max(1, decayEnd - warmupSteps);
        double coeff = 0.5 * (1.0 + Math.cos(Math.PI * ratio));
        return minLr + coeff * (learningRate - minLr);
    }
}
