import { DEMO_HOME_PATH, loadHome, startHomeAssistantSimulator } from '../../src/simulators/home-assistant/index.js';
import { startScriptedModel, type ScriptedResponse } from '../../src/simulators/scripted-model/index.js';
import { serveParent } from './child.js';

const homeAssistant = await startHomeAssistantSimulator({ home: loadHome(DEMO_HOME_PATH) });
const model = await startScriptedModel();

serveParent(
  { modelUrl: model.url, haUrl: homeAssistant.url, haToken: homeAssistant.token },
  {
    enqueue: (responses) => model.enqueue(...(responses as ScriptedResponse[])),
    setChunkDelay: (milliseconds) => {
      model.chunkDelayMs = Number(milliseconds);
    },
    requestCount: () => model.requests.length,
  },
);
