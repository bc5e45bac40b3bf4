/** Entry of the console build (`vite build --mode console`): defines `<anon-console>`. */
import './anon-console.ts';
