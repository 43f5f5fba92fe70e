import type { NetworkPolicy } from '@bx/core';
import { Agent as HttpAgent, type AgentOptions } from 'node:http';
import { sessionPolicies } from './file-transfer-guard';

type AgentFactory = (options: AgentOptions & { protocol?: string }) => HttpAgent;

/** The session whose guarded agent each agent is, for redirects (guardRedirects). */
const owners = new WeakMap<HttpAgent, SessionAgents>();

/**
 * The HTTP(S) agents of one Snowflake session, held to the network policy
 * (ALLOWED_PRIVATE_DESTINATIONS) on every connection, redirects included.
 * snowflake-sdk 3.3 takes them through its `agentClass` connection option:
 * for each request it calls it with that request's agent options and uses
 * the agent when its protocol matches (lib/http/base.js and
 * lib/http/node_untyped.js `getProxyAgent`; the SDK calls the option a test
 * hook, so an SDK upgrade must keep test/integration/destination-network.test.ts
 * green). HTTPS goes through the SDK's own OCSP-checking agent, as without
 * the option. Files a real Snowflake has the SDK PUT to its cloud storage go
 * to the storage URLs Snowflake names, through the storage SDKs: not here,
 * but held to the same policy (file-transfer-guard.ts, scoped-connections.ts).
 */
export class SessionAgents {
  private readonly agents = new Map<string, HttpAgent>();

  constructor(private readonly network: NetworkPolicy) {
    // The PUTs of the session check their storage addresses against the same policy.
    sessionPolicies.set(this.agentClass, network);
  }

  /** The `agentClass` option: one guarded agent per protocol, for the session's life. */
  readonly agentClass: AgentFactory = (options) => {
    const protocol = options.protocol === 'https:' ? 'https:' : 'http:';
    let agent = this.agents.get(protocol);
    if (!agent) {
      agent = protocol === 'https:' ? newOcspAgent(options) : new HttpAgent(options);
      this.agents.set(protocol, this.network.guardAgent(agent));
      owners.set(agent, this);
    }
    return agent;
  };

  /** The session's guarded agent of the other protocol than `agent`'s, made like it. */
  sibling(agent: HttpAgent): HttpAgent {
    const protocol = this.agents.get('https:') === agent ? 'http:' : 'https:';
    const options = (agent as unknown as { options?: AgentOptions }).options ?? {};
    return this.agentClass({ ...options, protocol });
  }

  destroy(): void {
    for (const agent of this.agents.values()) agent.destroy();
    this.agents.clear();
  }
}

/** What guardRedirects reads and sets of an axios request's config. */
export interface AgentsOfRequest {
  httpAgent?: unknown;
  httpsAgent?: unknown;
}

/**
 * Gives a request of a guarded session the session's agent of the other
 * protocol too. The SDK sets only the agent of the request URL's protocol,
 * and axios follows a redirect to the other protocol (an `http` access URL
 * answering 307 to `https://127.0.0.1/...`) with Node's global agent, which
 * no policy guards: the session then reached loopback. An axios request
 * interceptor (snowflake-sdk.ts) calls this on every request.
 */
export function guardRedirects(config: AgentsOfRequest): void {
  const agent = (config.httpAgent ?? config.httpsAgent) as HttpAgent | undefined;
  const session = agent ? owners.get(agent) : undefined;
  if (!agent || !session) return;
  const other = session.sibling(agent);
  if (config.httpAgent === agent) config.httpsAgent ??= other;
  else config.httpAgent ??= other;
}

function newOcspAgent(options: AgentOptions): HttpAgent {
  const HttpsOcspAgent = require('snowflake-sdk/dist/lib/agent/https_ocsp_agent') as new (
    options: AgentOptions,
  ) => HttpAgent;
  return new HttpsOcspAgent(options);
}
