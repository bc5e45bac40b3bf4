/** The custom-elements manifest (IDEs, Storybook and design-system tools read it): built from the element's JSDoc by `npm run build`. */
export default {
  globs: ['widget/anon-chat.ts'],
  outdir: 'dist',
  litelement: true,
  packagejson: false,
  plugins: [
    {
      // Lit's `state: true` properties are internal reactive state, not attributes; the Lit plugin lists them anyway.
      name: 'anon-chat-drop-internal-state',
      packageLinkPhase({ customElementsManifest }) {
        for (const module of customElementsManifest.modules) {
          for (const declaration of module.declarations ?? []) {
            declaration.attributes = declaration.attributes?.filter((attribute) => !attribute.name.startsWith('_'));
            declaration.members = declaration.members?.filter((member) => !member.name.startsWith('_') && !member.name.startsWith('#'));
          }
        }
      },
    },
  ],
};
