// A GPT-2 XL-sized model (1.5B parameters, 6.2 GB of fp32) travels and is checkpointed without any
// object of 2 GB or more: planned here from its layout, without allocating it. And the weights' blocks,
// cut at each layer, feed a forward pass that runs while they arrive.
package sparkgpt.driver.step;

import static org.junit.jupiter.api.Assertions.*;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import sparkgpt.driver.config.TransferConfig;
import sparkgpt.kernels.cpu.CpuBackend;
import sparkgpt.worker.Gpt;
import sparkgpt.worker.GptConfig;
import sparkgpt.worker.ParameterLayout;
import sparkgpt.worker.io.SafeTensors;

class TransferPlanTest {

    @Test
    void xlSizedModelTravelsInBlocks() {
        ParameterLayout xl = new ParameterLayout(new GptConfig(48, 25, 1600, 1024, 50257));
        long P = xl.size();
        assertEquals(1_557_611_200L, P); // GPT-2 XL without the tied lm_head
        assertTrue(4 * P > Integer.MAX_VALUE, "over 2 GB of fp32");
        int blockFloats = TransferConfig.blockFloats(64);
        assertEquals(16 << 20, blockFloats);
        int n = WeightBlocks.count(P, blockFloats);
        assertEquals(93, n); // ceil(1557611200 / 16777216)
        long sum = 0;
        for (int k = 0; k < n; k++) {
            int len = WeightBlocks.length(k, P, blockFloats);
            assertTrue(len > 0 && len <= blockFloats, "block " + k + ": " + len);
            assertEquals(sum, WeightBlocks.offset(k, blockFloats));
            sum += len;
        }
        assertEquals(P, sum);
        assertEquals(P - 92L * blockFloats, WeightBlocks.length(92, P, blockFloats), "a ragged last block");
        // every block's bytes stay far below Kryo's 2 GB buffer
        assertTrue(4L * blockFloats < Integer.MAX_VALUE / 2);
    }

    @Test
    void xlCheckpointIndexUsesLongOffsets() {
        ParameterLayout xl = new ParameterLayout(new GptConfig(48, 25, 1600, 1024, 50257));
        long[] bytes = xl.tensors().stream().mapToLong(t -> 4L * t.size()).toArray();
        long[] offsets = SafeTensors.dataOffsets(bytes);
        for (int i = 0; i < bytes.length; i++) {
            ParameterLayout.Tensor t = xl.tensors().get(i);
            assertEquals(4L * t.offset(), offsets[i], t.name()); // the file's order is the buffer's
            assertTrue(bytes[i] < Integer.MAX_VALUE, t.name() + " fits one array");
        }
        int last = bytes.length - 1;
        assertEquals(4L * xl.size(), offsets[last] + bytes[last]);
        assertEquals(6_230_444_800L, offsets[last] + bytes[last]);
        assertTrue(offsets[last] > Integer.MAX_VALUE, "offsets past 2^31 bytes");
    }

    @Test
    void weightBlocksStartAtEveryCutAndStayUnderTheBlockSize() {
        assertArrayEquals(new long[] {0, 10, 40, 50, 80, 100}, WeightBlocks.starts(100, 30, 10, 50));
        assertArrayEquals(new long[] {0, 30, 60, 90, 100}, WeightBlocks.starts(100, 30));
    }

    /**
     * A forward pass whose weights arrive layer by layer, in the order the blocks are fetched, waits for each
     * layer's and computes what it computes with every weight in place.
     */
    @Test
    void aForwardOverArrivingWeightsWaitsPerLayerAndGivesTheSameLoss() throws Exception {
        GptConfig cfg = new GptConfig(3, 2, 32, 16, 67);
        int[] in = new int[2 * 16], tg = new int[2 * 16];
        Random r = new Random(3);
        for (int i = 0; i < in.length; i++) {
            in[i] = r.nextInt(67);
            tg[i] = r.nextInt(67);
        }
        try (Gpt whole = new Gpt(cfg, 2, new CpuBackend()); Gpt arriving = new Gpt(cfg, 2, new CpuBackend())) {
            whole.initialize(1);
            float expected = whole.forward(in, tg, 0);
            ParameterLayout layout = whole.params;
            long[] starts = WeightBlocks.starts(layout.size(), 1 << 20, layout.ln1w[0], layout.ln1w[1], layout.ln1w[2],
                    layout.lnfw);
            float[] source = whole.parameters(), into = arriving.parameters();
            Arrays.fill(into, Float.NaN); // a layer read before its weights came would make the loss NaN
            WeightBlocks.Arrival arrival = new WeightBlocks.Arrival(0);
            List<Long> asked = new ArrayList<>();
            Thread fetch = new Thread(() -> {
                for (int k = 0; k + 1 < starts.length; k++) {
                    try {
                        Thread.sleep(20);
                    } catch (InterruptedException e) {
                        return;
                    }
                    System.arraycopy(source, (int) starts[k], into, (int) starts[k], (int) (starts[k + 1] - starts[k]));
                    arrival.arrived(starts[k + 1]);
                }
            });
            fetch.start();
            float loss = arriving.forward(in, tg, 0, n -> {
                asked.add(n);
                arrival.await(n);
            });
            fetch.join();
            assertEquals(expected, loss);
            // before the embeddings (up to layer 0), before each layer (up to the next one), before the head
            assertEquals(List.of((long) layout.ln1w[0], (long) layout.ln1w[1], (long) layout.ln1w[2],
                    (long) layout.lnfw, (long) layout.size()), asked);
            assertTrue(arrival.waitedNanos > 0, "the forward pass started before its weights were there");
        }
    }
}
