/** Test helpers for every engineer: a real bridge in-process or as a child process, and typed clients. */
export { startTestBridge, TEST_AGENT, type TestBridge, type TestBridgeOptions } from './test-bridge.ts';
export { startBridgeProcess, PROCESS_ADMIN, type BridgeProcess, type BridgeProcessOptions } from './bridge-process.ts';
export {
  connectVisitor,
  connectAgent,
  emitWithAck,
  emitRaw,
  nextEvent,
  collect,
  connectVisitorHearingAgents,
  HandshakeError,
  type VisitorClient,
  type AgentClient,
  type ConnectedVisitor,
  type ClientOptions,
} from './clients.ts';
export { filesHolding, snapshotFiles } from './store-files.ts';
export { waitUntil, START_DEADLINE_MS, WAIT_DEADLINE_MS, type WaitOptions } from './wait-until.ts';
