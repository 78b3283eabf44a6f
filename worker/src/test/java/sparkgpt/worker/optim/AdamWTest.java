// The update that reports its progress (the next step's weights go out block by block as it runs) is the same
// update: the same bits as the plain one, over every tensor in the layout's order, the last report the whole.
package sparkgpt.worker.optim;

import static org.junit.jupiter.api.Assertions.*;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import sparkgpt.worker.GptConfig;
import sparkgpt.worker.ParameterLayout;

class AdamWTest {

    static float[] random(int n, long seed) {
        Random r = new Random(seed);
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) r.nextGaussian();
        return a;
    }

    @Test
    void theUpdateThatReportsEachTensorGivesThePlainUpdatesBits() {
        ParameterLayout layout = new ParameterLayout(new GptConfig(2, 2, 16, 8, 50, 8));
        AdamW.Options options = new AdamW.Options(0.9f, 0.95f, 1e-8f, 0.1f);
        AdamW plain = new AdamW(layout, options), reporting = new AdamW(layout, options);
        float[] p1 = random(layout.size(), 1), p2 = p1.clone();
        List<Long> written = new ArrayList<>();
        for (int step = 0; step < 3; step++) {
            float[] g = random(layout.size(), 10 + step);
            plain.update(p1, g, 1e-3f);
            written.clear();
            reporting.update(p2, g, 1e-3f, upTo -> {
                // what is reported is final: the plain update's values, while later tensors are still the old ones
                for (int i = 0; i < upTo; i++) assertEquals(Float.floatToRawIntBits(p1[i]), Float.floatToRawIntBits(p2[i]));
                written.add(upTo);
            });
        }
        assertArrayEquals(p1, p2);
        assertEquals(layout.tensors().size(), written.size(), "one report per tensor");
        for (int t = 0; t < written.size(); t++) {
            ParameterLayout.Tensor tensor = layout.tensors().get(t);
            assertEquals(tensor.offset() + tensor.size(), written.get(t), tensor.name());
        }
        assertEquals(layout.size(), written.get(written.size() - 1));
        assertEquals(3, reporting.step());
    }
}
