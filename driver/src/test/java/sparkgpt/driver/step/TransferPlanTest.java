// A GPT-2 XL-sized model (1.5B parameters, 6.2 GB of fp32) travels and is checkpointed without any
// object of 2 GB or more: planned here from its layout, without allocating it.
package sparkgpt.driver.step;

import static org.junit.jupiter.api.Assertions.*;

import org.junit.jupiter.api.Test;
import sparkgpt.driver.config.TransferConfig;
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
}
