// Which build this is: build.mjs gives the bundles and the replay-log client one id per build,
// and the replay-log server serves clients of its own build only (an older server would run
// older code for a newer client). Run from the sources, it is 'dev'.

declare const __LOGWRITES_BUILD__: string | undefined;

export const BUILD_ID: string = typeof __LOGWRITES_BUILD__ === 'string' ? __LOGWRITES_BUILD__ : 'dev';
