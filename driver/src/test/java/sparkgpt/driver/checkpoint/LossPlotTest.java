// loss.png: a real PNG with the runs' curves; a missing run is named in the error.
package sparkgpt.driver.checkpoint;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import javax.imageio.ImageIO;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import sparkgpt.driver.config.UserError;

class LossPlotTest {
    @TempDir
    Path tmp;

    Path run(String name, double scale) throws Exception {
        Path dir = Files.createDirectories(tmp.resolve(name));
        StringBuilder sb = new StringBuilder();
        for (int s = 1; s <= 40; s++) {
            sb.append(String.format(java.util.Locale.ROOT,
                    "{\"step\": %d, \"loss\": %.4f, \"lr\": 1e-3, \"grad_norm\": 1.0, \"ms\": 500.0, \"tokens_per_s\": 1024.0, \"mfu\": 0.1}%n",
                    s, scale * (5 + 5.0 / s)));
            if (s % 10 == 0) sb.append(String.format(java.util.Locale.ROOT, "{\"step\": %d, \"val_loss\": %.4f}%n", s, scale * (5.2 + 5.0 / s)));
        }
        Files.writeString(dir.resolve("metrics.jsonl"), sb);
        return dir;
    }

    @Test
    void drawsSeveralRunsIntoOnePng() throws Exception {
        Path a = run("a", 1.0), b = run("b", 1.1);
        LossPlot.Curves c = LossPlot.read(new Configuration(), a.toString());
        assertEquals(40, c.train().getItemCount());
        assertEquals(4, c.val().getItemCount());
        assertEquals(512, c.tokensPerStep(), 0.0); // 500 ms at 1024 tokens/s
        Path png = tmp.resolve("loss.png");
        LossPlot.write(new Configuration(), List.of(a.toString(), b.toString()), png.toString());
        BufferedImage img = ImageIO.read(png.toFile());
        assertEquals(1000, img.getWidth());
        assertEquals(600, img.getHeight());
        int colored = 0; // curves are drawn in colour on a white and grey chart
        for (int y = 0; y < img.getHeight(); y += 2)
            for (int x = 0; x < img.getWidth(); x += 2) {
                int rgb = img.getRGB(x, y), r = (rgb >> 16) & 255, g = (rgb >> 8) & 255, bl = rgb & 255;
                if (Math.max(r, Math.max(g, bl)) - Math.min(r, Math.min(g, bl)) > 60) colored++;
            }
        assertTrue(colored > 200, "colored pixels: " + colored);
        assertTrue(Files.list(tmp).noneMatch(p -> p.getFileName().toString().endsWith(".tmp")));
    }

    @Test
    void missingRunIsNamed() {
        UserError e = assertThrows(UserError.class,
                () -> LossPlot.write(new Configuration(), List.of(tmp.resolve("nope").toString()), tmp.resolve("x.png").toString()));
        assertTrue(e.getMessage().contains("nope") && e.getMessage().contains("metrics.jsonl"), e.getMessage());
    }
}
