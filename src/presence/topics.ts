/** Topic names of contracts/mqtt.md; `P` is the prefix, `A` the agent id, `Q` a queue. */
export interface Topics {
  readonly online: string;
  readonly presence: string;
  readonly events: string;
  readonly commands: string;
  readonly commandResult: string;
  readonly queueStats: (queue: string) => string;
  /** The queue name of a `P/queues/Q/stats` topic, or null. */
  readonly queueOf: (topic: string) => string | null;
}

/** A topic level must not hold a separator or wildcard, or one desk could subscribe to all. */
export function isTopicLevel(s: string): boolean {
  return s.length > 0 && !/[/+#\u0000]/.test(s);
}

export function topics(prefix: string, agentId: string): Topics {
  if (!isTopicLevel(agentId))
    throw new Error(`agent id ${JSON.stringify(agentId)} cannot be an MQTT topic level`);
  if (prefix.length === 0 || /[+#\u0000]/.test(prefix)) {
    throw new Error(`topic prefix ${JSON.stringify(prefix)} is not a valid MQTT topic`);
  }
  const agent = `${prefix}/agents/${agentId}`;
  const queueHead = `${prefix}/queues/`;
  return {
    online: `${agent}/online`,
    presence: `${agent}/presence`,
    events: `${agent}/events`,
    commands: `${agent}/commands`,
    commandResult: `${agent}/commands/result`,
    queueStats: (queue) => `${queueHead}${queue}/stats`,
    queueOf: (topic) => {
      if (!topic.startsWith(queueHead) || !topic.endsWith("/stats")) return null;
      const q = topic.slice(queueHead.length, -"/stats".length);
      return isTopicLevel(q) ? q : null;
    },
  };
}
