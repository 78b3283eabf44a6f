// What the training loop reports and guards, in one place: each step's timing, its console line, its
// metrics.jsonl line and Spark UI entry, the evaluations, and the stop after max_bad_steps skipped steps.
package sparkgpt.driver.train;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.apache.spark.api.java.JavaSparkContext;
import sparkgpt.driver.checkpoint.LossPlot;
import sparkgpt.driver.checkpoint.MetricsLog;
import sparkgpt.driver.config.ClusterConfig;
import sparkgpt.driver.config.TrainConfig;
import sparkgpt.driver.config.UserError;
import sparkgpt.driver.step.GradientSum;
import sparkgpt.worker.io.Json;

/**
 * A step's wall time splits at three marks: {@link #stepStarted} (before the broadcast), {@link #broadcastDone},
 * {@link #summed} (the gradient is on the driver); {@link #step} then closes it after the update. The slowest
 * partition's compute and weight fetch come with the sum and are subtracted from the job's time. Where the next
 * step's weights go out during the update ({@link #firstOut}), the update counts until the first of them: the
 * rest of it runs beside the next step's fetch and forward, and what the next step waits for of it counts in that
 * step's fetch (broadcast).
 */
final class StepLog {
    private final JavaSparkContext sc;
    private final TrainConfig cfg;
    private final MetricsLog metrics;
    private final double flopsPerToken;
    private ClusterConfig.Peak peak; // known from the first step, which reports the device the kernels ran on
    private final long tokensPerStep;
    private long t0, t1, t2, tOut;
    private double stepMsAverage; // for the ETA; not in checkpoints: it re-forms within ~10 steps
    private double bestVal;
    private int badInARow; // non-finite steps since the last finite one
    // "step N: loss X" and evals' lines not yet shown, for the next job's description (a job submitted a step ahead
    // goes in before the step before it has a loss: the job after it shows both)
    private final List<String> unshown = new ArrayList<>();

    final List<Double> losses = new ArrayList<>();
    final List<double[]> valLosses = new ArrayList<>();
    final List<Trainer.StepTiming> timings = new ArrayList<>();

    StepLog(JavaSparkContext sc, TrainConfig cfg, MetricsLog metrics, double flopsPerToken, double bestVal, int badInARow) {
        this.sc = sc;
        this.cfg = cfg;
        this.metrics = metrics;
        this.flopsPerToken = flopsPerToken;
        this.tokensPerStep = (long) cfg.data().batchSize() * cfg.model().blockSize();
        this.bestVal = bestVal;
        this.badInARow = badInARow;
    }

    /** MFU's denominator, once a step has run (null before). */
    ClusterConfig.Peak peak() {
        return peak;
    }

    double bestVal() {
        return bestVal;
    }

    int badInARow() {
        return badInARow;
    }

    void stepStarted() {
        t0 = System.nanoTime();
    }

    void broadcastDone() {
        t1 = System.nanoTime();
    }

    void summed() {
        t2 = System.nanoTime();
        tOut = 0;
    }

    /**
     * The first block of the next step's weights has gone out during the update (the job submitted a step ahead over
     * served weights): the rest of the update overlaps that step's fetch and forward, and counts there (the first
     * call of a step counts).
     */
    void firstOut() {
        if (tOut == 0) tOut = System.nanoTime();
    }

    /**
     * After the update (skipped when not finite): the step's line on the console, in metrics.jsonl and the
     * Spark UI; then the guard: max_bad_steps non-finite steps in a row stop the run.
     */
    void step(int step, double loss, double lr, double norm, boolean finite, GradientSum stats) {
        long t3 = System.nanoTime();
        if (peak == null) {
            peak = cfg.cluster().peak(stats.device);
            System.out.println("mfu: against " + peak.source() + (stats.device != null ? "; kernels on " + stats.device : ""));
        }
        double ms = (t3 - t0) / 1e6;
        double tokensPerS = tokensPerStep / (ms / 1e3);
        double mfu = flopsPerToken * tokensPerS / peak.flops();
        long compute = stats.computeMs, fetch = stats.fetchMs;
        long broadcastMs = (t1 - t0) / 1_000_000 + fetch;
        long aggregateMs = Math.max(0, (t2 - t1) / 1_000_000 - compute - fetch);
        long updateMs = ((tOut != 0 ? tOut : t3) - t2) / 1_000_000;
        double dataMs = stats.dataNanos / 1e6;
        losses.add(loss);
        timings.add(new Trainer.StepTiming(ms, stats.forwardMs, stats.backwardMs, compute, dataMs, broadcastMs, aggregateMs,
                stats.sumNanos / 1_000_000, updateMs, stats.onCpu));
        stepMsAverage = stepMsAverage == 0 ? ms : 0.9 * stepMsAverage + 0.1 * ms; // the first step warms up: it decays

        int maxSteps = cfg.schedule().maxSteps();
        String line = String.format(Locale.ROOT, "step %d/%d: loss %.4f, lr %.2e, norm %.2f, %.0f ms, %.0f tok/s, mfu %s, eta %s",
                step + 1, maxSteps, loss, lr, norm, ms, tokensPerS,
                Double.isNaN(mfu) ? "unknown" : String.format(Locale.ROOT, "%.1f%%", 100 * mfu),
                duration(stepMsAverage * (maxSteps - step - 1)));
        if (cfg.output().timing()) {
            line += String.format(Locale.ROOT, " [compute %d (data %.2f%s), broadcast %d, aggregate %d, update %d ms]",
                    compute, dataMs, Double.isNaN(stats.onCpu) ? "" : String.format(Locale.ROOT, ", on cpu %.0f%%", 100 * stats.onCpu),
                    broadcastMs, aggregateMs, updateMs);
        }
        if (!finite) line += " (not finite: update skipped)";
        System.out.println(line);
        unshown.add(String.format(Locale.ROOT, "step %d: loss %.4f", step + 1, loss));
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("step", step + 1);
        m.put("loss", Json.number(loss, 6)); // JSON has no NaN or Infinity: a skipped step records null and "skipped": true
        m.put("lr", Double.parseDouble(String.format(Locale.ROOT, "%.6e", lr)));
        m.put("grad_norm", Json.number(norm, 6));
        m.put("ms", Json.number(ms, 1));
        m.put("tokens_per_s", Json.number(tokensPerS, 1));
        m.put("mfu", Json.number(mfu, 6));
        m.put("compute_ms", compute);
        m.put("data_ms", Json.number(dataMs, 3));
        if (!Double.isNaN(stats.onCpu)) m.put("compute_on_cpu", Json.number(stats.onCpu, 4));
        m.put("broadcast_ms", broadcastMs);
        m.put("aggregate_ms", aggregateMs);
        m.put("update_ms", updateMs);
        if (!finite) m.put("skipped", true);
        metrics.line(m);

        badInARow = finite ? 0 : badInARow + 1;
        if (badInARow >= cfg.optimizer().maxBadSteps()) {
            throw new UserError(badInARow + " step(s) in a row had a non-finite loss or gradient (last at step "
                    + (step + 1) + ": loss " + loss + ", grad norm " + norm + "; max_bad_steps = "
                    + cfg.optimizer().maxBadSteps() + "): lower learning_rate (now " + cfg.schedule().learningRate()
                    + ") or set grad_clip (now " + cfg.optimizer().gradClip() + ")");
        }
    }

    /** An evaluation's line, metrics.jsonl entry and UI entry; loss.png redrawn. */
    void eval(int step, double val) {
        if (Double.isFinite(val)) bestVal = Math.min(bestVal, val);
        valLosses.add(new double[] {step, val});
        System.out.printf(Locale.ROOT, "eval at step %d: val loss %.4f%n", step, val);
        unshown.add(String.format(Locale.ROOT, "eval at step %d: val loss %.4f", step, val));
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("step", step);
        m.put("val_loss", Json.number(val, 6));
        metrics.line(m);
        plotLosses(sc.hadoopConfiguration(), cfg.output().outDir());
    }

    /** The last results, when no job came after them to carry them: a job over no partitions (nothing runs) shows them. */
    void showLast() {
        if (unshown.isEmpty()) return;
        sc.setJobDescription(String.join("; ", unshown));
        sc.emptyRDD().count();
        sc.setJobDescription(null);
        unshown.clear();
    }

    /**
     * A job's description in the Spark UI's job list, with the results not shown yet: a description is fixed when
     * the job is submitted, before its loss is known, so "step 12 (step 11: loss 4.2104)" shows step 11's loss on
     * the job that follows it (no job of its own: a job, even over no partitions, costs the driver ~2 ms). A step
     * submitted a step ahead carries the loss of the step two before it ("step 12 (step 10: loss 4.2311)").
     */
    String jobDescription(String job) {
        String d = unshown.isEmpty() ? job : job + " (" + String.join("; ", unshown) + ")";
        unshown.clear();
        return d;
    }

    /** Redraws out_dir/loss.png from metrics.jsonl; a failure to draw is reported, never fatal to the run. */
    static void plotLosses(Configuration hadoop, String outDir) {
        try {
            LossPlot.write(hadoop, List.of(outDir), new org.apache.hadoop.fs.Path(outDir, "loss.png").toString());
        } catch (RuntimeException | LinkageError e) {
            System.out.println("loss.png not drawn: " + e.getMessage());
        }
    }

    /** 75 s -> "1m15s", 3725 s -> "1h02m". */
    static String duration(double ms) {
        long s = Math.round(ms / 1000);
        if (s < 60) return s + "s";
        if (s < 3600) return String.format(Locale.ROOT, "%dm%02ds", s / 60, s % 60);
        return String.format(Locale.ROOT, "%dh%02dm", s / 3600, s % 3600 / 60);
    }
}
