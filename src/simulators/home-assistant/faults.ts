/**
 * Fault modes a test can switch at runtime, mid-test included, to see how a client copes with a Home
 * Assistant that is down, slow or failing. All modes are off by default.
 */
export class HomeAssistantFaults {
  /** Milliseconds added before every REST response and every WebSocket `result` frame. Events are not delayed. */
  latencyMs = 0;

  /**
   * Milliseconds added before the response to every service call (REST or WebSocket), on top of latencyMs.
   * The service runs and its states change at once, so a client sees the effect while its call is still in flight.
   */
  serviceCallLatencyMs = 0;

  /** The next N service calls (REST or WebSocket) fail: REST with 500, WebSocket with `home_assistant_error`. */
  failNextServiceCalls = 0;

  /**
   * Every token is rejected: REST returns 401 and the WebSocket sends `auth_invalid` and closes, as for a
   * revoked long-lived token. WebSocket connections that already passed auth stay open.
   */
  rejectAuth = false;

  private down = false;

  constructor(private readonly closeSockets: (code: number, reason: string) => void) {}

  /**
   * Home Assistant is unreachable: REST returns 503, WebSocket upgrades are refused with 503, and setting
   * it to true closes the open WebSocket connections too.
   */
  get unavailable(): boolean {
    return this.down;
  }

  set unavailable(value: boolean) {
    this.down = value;
    if (value) {
      this.closeSockets(1001, 'Home Assistant simulator is unavailable');
    }
  }

  /** Closes every open WebSocket connection now, as a Home Assistant restart does; new connections work. */
  dropWebSocket(): void {
    this.closeSockets(1012, 'Home Assistant simulator restarted');
  }

  /** Returns true, and counts it down, when the current service call has to fail. */
  consumeServiceCallFailure(): boolean {
    if (this.failNextServiceCalls > 0) {
      this.failNextServiceCalls--;
      return true;
    }
    return false;
  }
}
