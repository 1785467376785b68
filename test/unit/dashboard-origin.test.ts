import { describe, expect, it } from 'vitest';
import { AppConfig, ConfigError, parseConfig } from '../../src/config/app-config';
import { originAllowed } from '../../src/modules/dashboard/dashboard.gateway';

describe('dashboard origin check', () => {
  const allowed = ['https://ops.example.com', 'http://localhost:8080'];

  it('lets non-browser clients (no Origin) and the service itself through', () => {
    expect(originAllowed(undefined, 'pm.example.com', [])).toBe(true);
    expect(originAllowed('https://pm.example.com', 'pm.example.com', [])).toBe(true);
    // Behind a TLS proxy the scheme differs from what the service sees: the host decides.
    expect(originAllowed('http://127.0.0.1:3100', '127.0.0.1:3100', [])).toBe(true);
    expect(originAllowed('https://PM.example.com', 'pm.example.com', [])).toBe(true);
  });

  it('refuses other origins unless listed', () => {
    expect(originAllowed('https://evil.example.com', 'pm.example.com', [])).toBe(false);
    expect(originAllowed('https://pm.example.com:444', 'pm.example.com', [])).toBe(false);
    expect(originAllowed('null', 'pm.example.com', allowed)).toBe(false);
    expect(originAllowed('not a url', 'pm.example.com', allowed)).toBe(false);
    expect(originAllowed('https://ops.example.com', 'pm.example.com', allowed)).toBe(true);
    expect(originAllowed('http://ops.example.com', 'pm.example.com', allowed)).toBe(false);
    expect(originAllowed('http://localhost:8080', 'pm.example.com', allowed)).toBe(true);
  });

  it('reads DASHBOARD_ALLOWED_ORIGINS as normalised origins and rejects anything else', () => {
    const c = new AppConfig(parseConfig({ DASHBOARD_ALLOWED_ORIGINS: 'https://Ops.Example.com , http://localhost:8080' }));
    expect(c.dashboard.allowedOrigins).toEqual(allowed);
    expect(new AppConfig(parseConfig({})).dashboard).toEqual({ allowedOrigins: [], refreshMs: 1000 });
    for (const bad of ['*', 'ops.example.com', 'https://ops.example.com/path', 'https://a.com,,https://b.com']) {
      expect(() => parseConfig({ DASHBOARD_ALLOWED_ORIGINS: bad }), bad).toThrow(ConfigError);
    }
    expect(() => parseConfig({ DASHBOARD_REFRESH_MS: '10' })).toThrow(ConfigError);
  });
});
