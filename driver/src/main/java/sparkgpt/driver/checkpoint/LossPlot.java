// Loss curves as a PNG: train and val loss of one or more runs against step (and tokens seen),
// drawn with JFreeChart from each run's metrics.jsonl.
package sparkgpt.driver.checkpoint;

import java.awt.BasicStroke;
import java.awt.Color;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.axis.NumberAxis;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.xy.XYLineAndShapeRenderer;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;
import sparkgpt.driver.config.Key;
import sparkgpt.driver.config.KeyGroup;
import sparkgpt.driver.config.UserError;
import sparkgpt.worker.io.Json;

public final class LossPlot {
    public static final Key<String> RUN = Key.string("run", "",
            "required: train out_dirs holding metrics.jsonl, comma-separated; one chart, a line per run")
            .check(x -> !x.isBlank(), "DIR[,DIR...]: train out_dirs holding metrics.jsonl");
    public static final Key<String> OUTPUT = Key.string("output", "loss.png", "the PNG written (any Hadoop FS URI)")
            .check(x -> !x.isBlank(), "a file name, e.g. loss.png");
    public static final List<KeyGroup> GROUPS = List.of(new KeyGroup("plot", List.of(RUN, OUTPUT)));
    private LossPlot() {}

    static {
        System.setProperty("java.awt.headless", "true"); // executors and CI have no display
    }

    /** One run's curves: (step, loss) for training and evaluation, and tokens per step. */
    record Curves(String name, XYSeries train, XYSeries val, double tokensPerStep) {}

    /** Reads run/metrics.jsonl; a missing or unreadable file is a UserError naming it. */
    static Curves read(Configuration conf, String run) {
        Path metrics = new Path(run, "metrics.jsonl");
        XYSeries train = new XYSeries(run + " train"), val = new XYSeries(run + " val");
        double tokensPerStep = 0;
        try {
            FileSystem fs = Checkpoint.fileSystem(conf, metrics);
            if (!fs.exists(metrics)) {
                throw new UserError(metrics + ": no such file (--run names a train out_dir, which holds metrics.jsonl)");
            }
            try (BufferedReader in = new BufferedReader(new InputStreamReader(fs.open(metrics), StandardCharsets.UTF_8))) {
                int n = 0;
                for (String line = in.readLine(); line != null; line = in.readLine()) {
                    n++;
                    if (line.isBlank()) continue;
                    Map<?, ?> m;
                    try {
                        m = (Map<?, ?>) Json.parse(line);
                    } catch (RuntimeException e) {
                        throw new UserError(metrics + " line " + n + ": not a JSON object: " + e.getMessage());
                    }
                    Number step = (Number) m.get("step");
                    if (step == null) continue;
                    if (m.get("loss") instanceof Number loss) {
                        train.add(step.doubleValue(), loss.doubleValue());
                        if (m.get("ms") instanceof Number ms && m.get("tokens_per_s") instanceof Number tps) {
                            tokensPerStep = Math.rint(ms.doubleValue() * tps.doubleValue() / 1000.0);
                        }
                    } else if (m.get("val_loss") instanceof Number v) {
                        val.add(step.doubleValue(), v.doubleValue());
                    }
                }
            }
        } catch (IOException e) {
            throw new UserError("cannot read " + metrics + ": " + e.getMessage(), e);
        }
        return new Curves(run, train, val, tokensPerStep);
    }

    /** Draws the runs on one chart and writes it as a PNG to out (temporary name, then renamed). */
    public static void write(Configuration conf, List<String> runs, String out) {
        XYSeriesCollection data = new XYSeriesCollection();
        double tokensPerStep = 0, maxStep = 1;
        for (String run : runs) {
            Curves c = read(conf, run);
            data.addSeries(c.train());
            if (c.val().getItemCount() > 0) data.addSeries(c.val());
            if (tokensPerStep == 0) tokensPerStep = c.tokensPerStep();
            if (c.train().getItemCount() > 0) maxStep = Math.max(maxStep, c.train().getMaxX());
        }
        NumberAxis steps = new NumberAxis("step");
        steps.setRange(0, maxStep);
        NumberAxis loss = new NumberAxis("loss");
        loss.setAutoRangeIncludesZero(false);
        XYLineAndShapeRenderer renderer = new XYLineAndShapeRenderer(true, false);
        for (int i = 0; i < data.getSeriesCount(); i++) {
            boolean isVal = data.getSeriesKey(i).toString().endsWith(" val");
            renderer.setSeriesShapesVisible(i, isVal); // eval points are sparse: mark them
            renderer.setSeriesStroke(i, new BasicStroke(isVal ? 2.5f : 1.2f));
        }
        XYPlot plot = new XYPlot(data, steps, loss, renderer);
        plot.setBackgroundPaint(Color.WHITE);
        plot.setDomainGridlinePaint(Color.LIGHT_GRAY);
        plot.setRangeGridlinePaint(Color.LIGHT_GRAY);
        if (tokensPerStep > 0) {
            // a second scale on top: tokens seen (step x tokens per step of the first run)
            NumberAxis tokens = new NumberAxis("tokens seen");
            tokens.setRange(0, maxStep * tokensPerStep);
            plot.setDomainAxis(1, tokens);
        }
        JFreeChart chart = new JFreeChart("sparkgpt loss", JFreeChart.DEFAULT_TITLE_FONT, plot, true);
        chart.setBackgroundPaint(Color.WHITE);
        Path target = new Path(out), tmp = new Path(target.getParent(), "." + target.getName() + ".tmp");
        try {
            FileSystem fs = Checkpoint.fileSystem(conf, target);
            try (OutputStream os = fs.create(tmp, true)) {
                ChartUtils.writeChartAsPNG(os, chart, 1000, 600);
            }
            fs.delete(target, false);
            if (!fs.rename(tmp, target)) throw new IOException("rename " + tmp + " -> " + target + " failed");
        } catch (IOException e) {
            throw new UserError("cannot write " + target + ": " + e.getMessage(), e);
        }
    }
}
