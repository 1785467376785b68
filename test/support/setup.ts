import { installSecretWatch } from './secret-watch';

installSecretWatch();
