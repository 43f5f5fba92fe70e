import type { IncomingHttpHeaders } from 'node:http';
import aws4 from 'aws4';

const AUTHORIZATION =
  /^AWS4-HMAC-SHA256 Credential=([^/]+)\/\d{8}\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/;

/**
 * Whether a received request carries the SigV4 signature that `secret`
 * makes of it: recomputed by aws4, a signer of its own (s3rver does not
 * check SigV4 signatures), from the request line and the headers it signed.
 */
export function signatureMatches(
  req: { method: string; url: string; headers: IncomingHttpHeaders },
  secret: string,
): boolean {
  const found = AUTHORIZATION.exec(String(req.headers.authorization ?? ''));
  if (!found) return false;
  const [, accessKeyId, region, service, signed, signature] = found as unknown as string[];
  const headers: Record<string, string> = {};
  for (const name of signed!.split(';')) headers[name] = String(req.headers[name] ?? '');
  const request = { method: req.method, host: headers.host, path: req.url, headers, service, region };
  aws4.sign(request, { accessKeyId: accessKeyId!, secretAccessKey: secret });
  return /Signature=([0-9a-f]{64})$/.exec(String(request.headers.Authorization))?.[1] === signature;
}
